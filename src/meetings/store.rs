//! Reads: a bot as its organisation may see it, lists, histories, transcripts and tasks, and
//! the batch loaders that fetch the children of every bot a response lists at once.

use std::collections::HashMap;

use async_graphql::dataloader::{DataLoader, Loader};
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::entity::{bot, segment, status_change, task};
use super::events::{BotStatusChange, TranscriptSegment};
use super::link::MeetingPlatform;
use super::status::BotStatus;
use crate::auth::Viewer;
use crate::error::{AppError, AppResult};

pub use bot::Model as MeetingBot;
pub use task::Model as MeetingTask;

/// A bot of the viewer's organisation; another organisation's looks missing.
pub async fn get(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<MeetingBot> {
    let bot = bot::Entity::find_by_id(crate::input::id(id, "meeting bot")?)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))?;
    viewer.owns(&bot.org_id, "meeting bot")?;
    Ok(bot)
}

/// The newest bot of the viewer's organisation sent into a meeting, named as Vexa names it
/// (platform and the platform's own id); none when the organisation has sent none there.
pub async fn latest_in_meeting(
    db: &DatabaseConnection,
    viewer: &Viewer,
    platform: MeetingPlatform,
    native_id: &str,
) -> AppResult<Option<MeetingBot>> {
    Ok(bot::Entity::find()
        .filter(bot::Column::OrgId.eq(&viewer.org_id))
        .filter(bot::Column::Platform.eq(platform))
        .filter(bot::Column::NativeMeetingId.eq(native_id))
        .order_by_desc(bot::Column::CreatedAt)
        .order_by_desc(bot::Column::Id)
        .one(db)
        .await?)
}

/// A bot by id, for the domain's own work (jobs, callbacks already authenticated).
pub async fn load(db: &DatabaseConnection, bot_id: &str) -> AppResult<MeetingBot> {
    bot::Entity::find_by_id(bot_id.to_string())
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))
}

/// A bot by our id or the bot service's, for callbacks that may know either. A service id
/// can come back (Vexa's is the meeting's, and a weekly meeting keeps it): the newest bot is
/// the one the service means.
pub async fn find_for_callback(db: &DatabaseConnection, id: &str) -> AppResult<MeetingBot> {
    bot::Entity::find()
        .filter(
            Condition::any()
                .add(bot::Column::Id.eq(id))
                .add(bot::Column::ExternalBotId.eq(id)),
        )
        .order_by_desc(bot::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))
}

/// The bot a push names by the service's id for it and, when given, the service's id of the
/// run (a Vexa meeting record): the newest such bot.
pub async fn find_pushed(
    db: &DatabaseConnection,
    external_id: &str,
    session_id: Option<&str>,
) -> AppResult<MeetingBot> {
    let mut query = bot::Entity::find().filter(bot::Column::ExternalBotId.eq(external_id));
    if let Some(session_id) = session_id {
        query = query.filter(bot::Column::SessionId.eq(session_id));
    }
    query
        .order_by_desc(bot::Column::CreatedAt)
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("meeting bot"))
}

pub async fn find_by_idempotency_key(
    db: &DatabaseConnection,
    org_id: &str,
    key: Option<&str>,
) -> AppResult<Option<MeetingBot>> {
    let Some(key) = key else { return Ok(None) };
    Ok(bot::Entity::find()
        .filter(bot::Column::OrgId.eq(org_id))
        .filter(bot::Column::IdempotencyKey.eq(key))
        .one(db)
        .await?)
}

/// The bots the status sync follows: those whose status the bot service owns.
pub async fn synced_bots(db: &DatabaseConnection) -> AppResult<Vec<MeetingBot>> {
    Ok(bot::Entity::find()
        .filter(bot::Column::Status.is_in(BotStatus::SYNCED))
        .all(db)
        .await?)
}

pub struct BotPage {
    pub bots: Vec<MeetingBot>,
    pub has_next: bool,
}

/// Newest first; `after` is the (created_at, id) of the last bot of the previous page.
pub async fn list(
    db: &DatabaseConnection,
    viewer: &Viewer,
    status: Option<BotStatus>,
    after: Option<(chrono::DateTime<chrono::Utc>, String)>,
    first: u64,
) -> AppResult<BotPage> {
    let mut query = bot::Entity::find().filter(bot::Column::OrgId.eq(&viewer.org_id));
    if let Some(status) = status {
        query = query.filter(bot::Column::Status.eq(status));
    }
    if let Some((created_at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(bot::Column::CreatedAt.lt(created_at))
                .add(
                    Condition::all()
                        .add(bot::Column::CreatedAt.eq(created_at))
                        .add(bot::Column::Id.lt(id)),
                ),
        );
    }
    let mut bots = query
        .order_by_desc(bot::Column::CreatedAt)
        .order_by_desc(bot::Column::Id)
        .limit(first + 1)
        .all(db)
        .await?;
    let has_next = bots.len() as u64 > first;
    bots.truncate(first as usize);
    Ok(BotPage { bots, has_next })
}

pub async fn history(
    db: &DatabaseConnection,
    bot_id: &str,
    after: i64,
) -> AppResult<Vec<BotStatusChange>> {
    Ok(status_change::Entity::find()
        .filter(status_change::Column::BotId.eq(bot_id))
        .filter(status_change::Column::Sequence.gt(after))
        .order_by_asc(status_change::Column::Sequence)
        .all(db)
        .await?
        .into_iter()
        .map(BotStatusChange::from)
        .collect())
}

pub async fn latest_change(
    db: &DatabaseConnection,
    bot_id: &str,
) -> AppResult<Option<BotStatusChange>> {
    Ok(status_change::Entity::find()
        .filter(status_change::Column::BotId.eq(bot_id))
        .order_by_desc(status_change::Column::Sequence)
        .one(db)
        .await?
        .map(BotStatusChange::from))
}

pub async fn transcript(
    db: &DatabaseConnection,
    bot_id: &str,
    after: i64,
) -> AppResult<Vec<TranscriptSegment>> {
    Ok(segment::Entity::find()
        .filter(segment::Column::BotId.eq(bot_id))
        .filter(segment::Column::Sequence.gt(after))
        .order_by_asc(segment::Column::Sequence)
        .all(db)
        .await?
        .into_iter()
        .map(Into::into)
        .collect())
}

/// How many segments the bot's transcript has (its last sequence: they are numbered from 1).
pub async fn transcript_length(db: &DatabaseConnection, bot_id: &str) -> AppResult<i64> {
    Ok(segment::Entity::find()
        .filter(segment::Column::BotId.eq(bot_id))
        .count(db)
        .await? as i64)
}

/// Whether the bot's transcript is all stored: the pipeline stores it in one transaction
/// before the bot moves past TRANSCRIBING, and a finished bot gets none later. A purged bot's
/// transcript is complete too (empty).
pub async fn transcript_is_complete(db: &DatabaseConnection, bot_id: &str) -> AppResult<bool> {
    let status = bot::Entity::find_by_id(bot_id.to_string())
        .select_only()
        .column(bot::Column::Status)
        .into_tuple::<BotStatus>()
        .one(db)
        .await?;
    Ok(status.is_none_or(|status| status > BotStatus::Transcribing))
}

pub async fn tasks(db: &DatabaseConnection, bot_id: &str) -> AppResult<Vec<MeetingTask>> {
    Ok(task::Entity::find()
        .filter(task::Column::BotId.eq(bot_id))
        .order_by_asc(task::Column::Position)
        .all(db)
        .await?)
}

/// Loads bots' histories, transcripts and tasks in one query per kind for all the bots a
/// response lists (no query per bot). Bots reach it only through organisation-scoped queries.
pub struct BotChildren {
    db: DatabaseConnection,
}

pub fn loader(db: DatabaseConnection) -> DataLoader<BotChildren> {
    DataLoader::new(BotChildren { db }, tokio::spawn)
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HistoryOf(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TranscriptOf(pub String);
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct TasksOf(pub String);

/// Rows of many bots, each bot's in `order`, grouped by bot id.
async fn children_of<E, V>(
    db: &DatabaseConnection,
    keys: &[String],
    bot_id: E::Column,
    order: E::Column,
    of_bot: impl Fn(&E::Model) -> &str,
    into: impl Fn(E::Model) -> V,
) -> AppResult<HashMap<String, Vec<V>>>
where
    E: EntityTrait,
{
    let rows = E::find()
        .filter(bot_id.is_in(keys.to_vec()))
        .order_by_asc(bot_id)
        .order_by_asc(order)
        .all(db)
        .await?;
    let mut grouped: HashMap<String, Vec<V>> = HashMap::new();
    for row in rows {
        grouped
            .entry(of_bot(&row).to_string())
            .or_default()
            .push(into(row));
    }
    Ok(grouped)
}

macro_rules! bot_children_loader {
    ($key:ident, $entity:ident, $order:ident, $value:ty) => {
        impl Loader<$key> for BotChildren {
            type Value = Vec<$value>;
            type Error = async_graphql::Error;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, Vec<$value>>, Self::Error> {
                let ids: Vec<String> = keys.iter().map(|k| k.0.clone()).collect();
                let grouped = children_of::<$entity::Entity, $value>(
                    &self.db,
                    &ids,
                    $entity::Column::BotId,
                    $entity::Column::$order,
                    |row| row.bot_id.as_str(),
                    <$value>::from,
                )
                .await?;
                Ok(grouped
                    .into_iter()
                    .map(|(id, rows)| ($key(id), rows))
                    .collect())
            }
        }
    };
}

bot_children_loader!(HistoryOf, status_change, Sequence, BotStatusChange);
bot_children_loader!(TranscriptOf, segment, Sequence, TranscriptSegment);
bot_children_loader!(TasksOf, task, Position, MeetingTask);

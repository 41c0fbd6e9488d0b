//! The pipeline's analysis step: the transcript, cut to fit, goes to the LLM, whose summary
//! and action items are stored as the bot's summary and tasks.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde::Deserialize;

use super::entity::{bot, task};
use super::events::TranscriptSegment;
use super::pipeline::{load, step_failure, ANALYSIS};
use super::store;
use crate::jobs::JobFailure;
use crate::services::Services;

/// Most transcript text sent to the LLM; longer meetings keep their beginning and end.
const MAX_TRANSCRIPT_CHARS: usize = 60_000;

const ANALYSIS_PROMPT: &str = "You turn meeting transcripts into work. Answer with one JSON object: \
{\"summary\": string (3-6 sentences), \"action_items\": [{\"title\": string (imperative, under 100 characters), \
\"description\": string, \"assignee\": string or null (only a person named in the meeting as owner)}]}. \
Include only concrete commitments or requests; no action items is a valid answer.";

pub async fn analyse(s: &Services, bot_id: &str) -> Result<(), JobFailure> {
    let bot = load(s, bot_id).await?;
    if bot.summary.is_some() {
        return Ok(());
    }
    let transcript = store::transcript(&s.db, bot_id, 0).await?;
    let text = transcript_text(&transcript);
    let answer = s
        .providers
        .llm()?
        .complete_json(ANALYSIS_PROMPT, &text)
        .await
        .map_err(|err| step_failure(ANALYSIS, err))?;
    let analysis: Analysis = serde_json::from_value(answer).map_err(|err| {
        JobFailure::retry(format!(
            "meeting analysis failed: the LLM's answer has the wrong shape: {err}"
        ))
    })?;
    let now = Utc::now();
    let txn = crate::db::begin(&s.db).await?;
    for (position, item) in analysis.action_items.iter().enumerate() {
        let title: String = item.title.trim().chars().take(250).collect();
        if title.is_empty() {
            continue;
        }
        task::ActiveModel {
            id: Set(uuid::Uuid::new_v4().to_string()),
            bot_id: Set(bot_id.to_string()),
            position: Set(position as i32),
            title: Set(title),
            description: Set(item.description.clone().unwrap_or_default()),
            assignee: Set(item.assignee.clone().filter(|a| !a.trim().is_empty())),
            jira_key: Set(None),
            jira_url: Set(None),
            error: Set(None),
            created_at: Set(now),
            jira_requested_at: Set(None),
        }
        .insert(&txn)
        .await?;
    }
    bot::Entity::update_many()
        .col_expr(
            bot::Column::Summary,
            Expr::value(analysis.summary.trim().to_string()),
        )
        .filter(bot::Column::Id.eq(bot_id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

#[derive(Deserialize)]
struct Analysis {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    action_items: Vec<ActionItem>,
}

#[derive(Deserialize)]
struct ActionItem {
    title: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    assignee: Option<String>,
}

fn transcript_text(segments: &[TranscriptSegment]) -> String {
    let lines: Vec<String> = segments
        .iter()
        .map(|s| {
            format!(
                "[{:.1}] {}: {}",
                s.start,
                s.speaker.as_deref().unwrap_or("Speaker"),
                s.text
            )
        })
        .collect();
    let text = lines.join("\n");
    if text.chars().count() <= MAX_TRANSCRIPT_CHARS {
        return text;
    }
    let half = MAX_TRANSCRIPT_CHARS / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text
        .chars()
        .rev()
        .take(half)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{head}\n[… middle of the meeting omitted …]\n{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(sequence: i64, text: &str) -> TranscriptSegment {
        TranscriptSegment {
            bot_id: async_graphql::ID("bot".into()),
            sequence,
            start: sequence as f64,
            end: sequence as f64 + 1.0,
            speaker: Some("Анна".into()),
            text: text.into(),
        }
    }

    #[test]
    fn a_cyrillic_transcript_under_the_limit_in_characters_is_passed_whole() {
        // About 40,000 characters, twice as many bytes: under the limit, which counts characters.
        let segments: Vec<_> = (1..=400)
            .map(|n| segment(n, &"обсудили релиз ".repeat(6)))
            .collect();
        let text = transcript_text(&segments);
        assert!(text.chars().count() < MAX_TRANSCRIPT_CHARS && text.len() > MAX_TRANSCRIPT_CHARS);
        assert!(!text.contains("omitted"));
        assert_eq!(text.lines().count(), 400);
    }

    #[test]
    fn a_transcript_over_the_limit_keeps_its_start_and_end_once_each() {
        let segments: Vec<_> = (1..=2000)
            .map(|n| segment(n, &format!("пункт {n} ").repeat(5)))
            .collect();
        let text = transcript_text(&segments);
        assert!(text.contains("[… middle of the meeting omitted …]"));
        assert!(text.starts_with("[1.0] Анна: пункт 1 "));
        assert!(text.ends_with("пункт 2000 "));
        assert_eq!(
            text.matches("пункт 1000 ").count(),
            0,
            "the middle is left out"
        );
        assert!(text.chars().count() <= MAX_TRANSCRIPT_CHARS + 40);
    }
}

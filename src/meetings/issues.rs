//! The pipeline's Jira step: each task becomes an issue, in batches the tracker takes, with
//! every answer stored before the next batch goes, and answers lost to a timeout or a crash
//! recovered by the bot's label instead of sending the issues again.

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

use super::entity::task;
use super::pipeline::{load, step_failure, CREATING_TASKS};
use super::store::{self, MeetingBot};
use crate::jobs::JobFailure;
use crate::providers::jira::{FoundIssue, IssueOutcome, NewIssue};
use crate::services::Services;

pub async fn create_tasks(s: &Services, bot_id: &str) -> Result<(), JobFailure> {
    let bot = load(s, bot_id).await?;
    let tasks = store::tasks(&s.db, bot_id).await?;
    let mut pending: Vec<task::Model> = tasks
        .iter()
        .filter(|t| t.jira_key.is_none() && t.error.is_none())
        .cloned()
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let tracker = s.providers.tasks()?;
    let failed = |err| step_failure(CREATING_TASKS, err);
    // Sent before, but the answer never got stored (lost to a timeout, an outage answering
    // for Jira, or a crash): Jira may have made them, so look first.
    let unanswered: Vec<&task::Model> = pending
        .iter()
        .filter(|t| t.jira_requested_at.is_some())
        .collect();
    if !unanswered.is_empty() {
        let found = tracker
            .find_issues(&issue_label(bot_id))
            .await
            .map_err(failed)?;
        let recovered = made_earlier(&bot, &tasks, &unanswered, found);
        pending.retain(|t| !recovered.iter().any(|(task, _)| task.id == t.id));
        store_outcomes(s, recovered).await?;
    }
    for batch in pending.chunks(tracker.batch_limit().max(1)) {
        let issues: Vec<NewIssue> = batch.iter().map(|t| new_issue(&bot, t)).collect();
        // Marked before it goes, so that a retry knows to look for what it made.
        task::Entity::update_many()
            .col_expr(task::Column::JiraRequestedAt, Expr::value(Utc::now()))
            .filter(task::Column::Id.is_in(batch.iter().map(|t| t.id.clone())))
            .exec(&s.db)
            .await?;
        let outcomes = tracker.create_issues(&issues).await.map_err(failed)?;
        // Stored before the next batch is sent, so a retry after a later batch fails
        // does not create these issues a second time.
        store_outcomes(s, batch.iter().cloned().zip(outcomes).collect()).await?;
    }
    Ok(())
}

/// The label on every Jira issue made for the bot's meeting.
fn issue_label(bot_id: &str) -> String {
    format!("switchboard-{bot_id}")
}

/// Each task's outcome, in one transaction.
async fn store_outcomes(
    s: &Services,
    outcomes: Vec<(task::Model, IssueOutcome)>,
) -> Result<(), JobFailure> {
    let txn = crate::db::begin(&s.db).await?;
    for (task, outcome) in outcomes {
        let mut row: task::ActiveModel = task.into();
        match outcome {
            IssueOutcome::Created { key, url } => {
                row.jira_key = Set(Some(key));
                row.jira_url = Set(Some(url));
            }
            IssueOutcome::Failed { message } => row.error = Set(Some(message)),
        }
        row.update(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// The `unanswered` tasks whose issues `found` holds: each matched, in order, to a found issue
/// with the summary it was sent with that none of the bot's `tasks` holds yet (two tasks of
/// the same title are alike, so either may take either issue).
fn made_earlier(
    bot: &MeetingBot,
    tasks: &[task::Model],
    unanswered: &[&task::Model],
    found: Vec<FoundIssue>,
) -> Vec<(task::Model, IssueOutcome)> {
    let mut unclaimed: Vec<FoundIssue> = found
        .into_iter()
        .filter(|issue| {
            !tasks
                .iter()
                .any(|t| t.jira_key.as_ref() == Some(&issue.key))
        })
        .collect();
    unanswered
        .iter()
        .filter_map(|&task| {
            let summary = new_issue(bot, task).summary;
            let at = unclaimed
                .iter()
                .position(|issue| issue.summary.trim() == summary.trim())?;
            let issue = unclaimed.remove(at);
            let outcome = IssueOutcome::Created {
                key: issue.key,
                url: issue.url,
            };
            Some((task.clone(), outcome))
        })
        .collect()
}

fn new_issue(bot: &MeetingBot, task: &task::Model) -> NewIssue {
    let mut description = task.description.clone();
    if let Some(assignee) = &task.assignee {
        description.push_str(&format!("\nOwner named in the meeting: {assignee}"));
    }
    description.push_str(&format!(
        "\nFrom the meeting {} ({}).",
        bot.meet_url,
        bot.created_at.format("%Y-%m-%d")
    ));
    NewIssue {
        summary: task.title.clone(),
        description,
        label: issue_label(&bot.id),
    }
}

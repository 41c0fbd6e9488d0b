//! Jira Cloud: issues created in bulk (50 a request), descriptions in Atlassian Document
//! Format, each failed element mapped back to its task. Each issue carries a label naming
//! what it was made for, so that issues Jira made without our hearing of it (an answer lost
//! to a timeout or a crash) can be found again by a JQL search rather than made twice.

use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use reqwest::Client;
use serde::Deserialize;
use serde_json::{json, Value};
use url::Url;

use super::http::{self, ProviderError};

const SERVICE: &str = "Jira";
/// Jira Cloud's limit on issues in one bulk create.
pub const BULK_LIMIT: usize = 50;

/// Issues a search returns at most per page: Jira's own cap for a search asking for few fields.
const SEARCH_PAGE: usize = 100;
/// Pages a search reads at most: labels name one meeting's tasks, far fewer than this allows.
const SEARCH_PAGES: usize = 20;

#[derive(Debug, Clone)]
pub struct NewIssue {
    pub summary: String,
    pub description: String,
    /// A Jira label (no spaces) that [`TaskTracker::find_issues`] finds the issue by.
    pub label: String,
}

/// An issue a search found.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundIssue {
    pub key: String,
    pub url: String,
    pub summary: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IssueOutcome {
    Created { key: String, url: String },
    Failed { message: String },
}

#[async_trait]
pub trait TaskTracker: Send + Sync + 'static {
    /// The most issues one [`TaskTracker::create_issues`] call takes.
    fn batch_limit(&self) -> usize;

    /// Creates up to [`TaskTracker::batch_limit`] issues in one request: one outcome per
    /// issue, in order. An error means none was created and the batch may be sent again.
    async fn create_issues(&self, issues: &[NewIssue]) -> Result<Vec<IssueOutcome>, ProviderError>;

    /// The issues carrying `label`, oldest first. Jira's search index may lag a creation by
    /// a moment, which a retry's backoff covers.
    async fn find_issues(&self, label: &str) -> Result<Vec<FoundIssue>, ProviderError>;
}

pub struct JiraCloud {
    pub client: Client,
    pub base: Url,
    pub email: String,
    pub api_token: String,
    pub project_key: String,
    pub issue_type: String,
    /// Set once the project refused the label (its create screen has no Labels field): issues
    /// are then made without one, and cannot be found again after a lost answer.
    pub labels_refused: AtomicBool,
}

#[derive(Deserialize)]
struct BulkAnswer {
    #[serde(default)]
    issues: Vec<CreatedIssue>,
    #[serde(default)]
    errors: Vec<BulkError>,
}

#[derive(Deserialize)]
struct CreatedIssue {
    key: String,
}

#[derive(Deserialize)]
struct SearchPage {
    #[serde(default)]
    issues: Vec<SearchedIssue>,
    /// Absent on the last page.
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct SearchedIssue {
    key: String,
    #[serde(default)]
    fields: SearchedFields,
}

#[derive(Deserialize, Default)]
struct SearchedFields {
    #[serde(default)]
    summary: String,
}

#[derive(Deserialize)]
struct BulkError {
    #[serde(rename = "failedElementNumber")]
    failed_element_number: usize,
    #[serde(default, rename = "elementErrors")]
    element_errors: Value,
}

/// Plain text as ADF: one paragraph per line.
pub fn adf(text: &str) -> Value {
    let paragraphs: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| json!({"type": "paragraph", "content": [{"type": "text", "text": line}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": paragraphs})
}

fn error_text(errors: &Value) -> String {
    let messages = errors
        .get("errorMessages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string);
    let fields = errors
        .get("errors")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(field, message)| format!("{field}: {}", message.as_str().unwrap_or_default()));
    let all: Vec<String> = messages.chain(fields).collect();
    if all.is_empty() {
        "Jira refused the issue".into()
    } else {
        all.join("; ")
    }
}

impl JiraCloud {
    /// One bulk create: each issue's outcome, and whether Jira refused it for its label alone.
    async fn bulk(
        &self,
        issues: &[NewIssue],
        labelled: bool,
    ) -> Result<Vec<(IssueOutcome, bool)>, ProviderError> {
        let updates: Vec<Value> = issues
            .iter()
            .map(|issue| {
                let mut fields = json!({
                    "project": {"key": self.project_key},
                    "summary": issue.summary,
                    "description": adf(&issue.description),
                    "issuetype": {"name": self.issue_type},
                });
                if labelled {
                    fields["labels"] = json!([issue.label]);
                }
                json!({ "fields": fields })
            })
            .collect();
        let request = self
            .client
            .post(self.api("issue/bulk"))
            .basic_auth(&self.email, Some(&self.api_token))
            .json(&json!({"issueUpdates": updates}));
        // Jira answers 201 when all were made and 400 with the same body when some were not.
        let answer = http::transport(SERVICE, request).await?;
        let status = answer.status();
        if !(status.is_success() || status.as_u16() == 400) {
            return Err(http::failure(SERVICE, answer).await);
        }
        let body = http::read_answer(SERVICE, answer).await?;
        let response = match crate::input::provider_json::<BulkAnswer>(&body) {
            Ok(answer) if status.is_success() || !answer.errors.is_empty() => answer,
            _ if status.is_success() => {
                return Err(ProviderError::new(SERVICE, "answered with unexpected JSON"))
            }
            _ => {
                let text = http::excerpt(&String::from_utf8_lossy(&body), status);
                return Err(ProviderError {
                    status: Some(400),
                    ..ProviderError::new(SERVICE, text)
                });
            }
        };
        let mut created = response.issues.into_iter();
        Ok((0..issues.len())
            .map(|index| {
                match response
                    .errors
                    .iter()
                    .find(|e| e.failed_element_number == index)
                {
                    Some(error) => (
                        IssueOutcome::Failed {
                            message: error_text(&error.element_errors),
                        },
                        labelled && refuses_only_labels(&error.element_errors),
                    ),
                    None => match created.next() {
                        Some(issue) => (
                            IssueOutcome::Created {
                                url: self.browse(&issue.key),
                                key: issue.key,
                            },
                            false,
                        ),
                        None => (
                            IssueOutcome::Failed {
                                message: "Jira did not report this issue".into(),
                            },
                            false,
                        ),
                    },
                }
            })
            .collect())
    }

    fn api(&self, path: &str) -> String {
        format!(
            "{}/rest/api/3/{path}",
            self.base.as_str().trim_end_matches('/')
        )
    }

    fn browse(&self, key: &str) -> String {
        format!("{}/browse/{key}", self.base.as_str().trim_end_matches('/'))
    }
}

/// Whether an element's errors are about its labels and nothing else.
fn refuses_only_labels(errors: &Value) -> bool {
    let fields = errors.get("errors").and_then(Value::as_object);
    let messages = errors.get("errorMessages").and_then(Value::as_array);
    fields.is_some_and(|fields| fields.len() == 1 && fields.contains_key("labels"))
        && messages.is_none_or(|messages| messages.is_empty())
}

/// `text` as a JQL string literal.
fn jql_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

#[async_trait]
impl TaskTracker for JiraCloud {
    fn batch_limit(&self) -> usize {
        BULK_LIMIT
    }

    async fn create_issues(&self, issues: &[NewIssue]) -> Result<Vec<IssueOutcome>, ProviderError> {
        if issues.len() > BULK_LIMIT {
            return Err(ProviderError::new(
                SERVICE,
                format!("at most {BULK_LIMIT} issues go in one bulk request"),
            ));
        }
        let labelled = !self.labels_refused.load(Ordering::Relaxed);
        let mut outcomes = self.bulk(issues, labelled).await?;
        let refused: Vec<usize> = (0..outcomes.len())
            .filter(|&index| outcomes[index].1)
            .collect();
        if !refused.is_empty() {
            tracing::warn!(project = %self.project_key, "Jira refused the issue label; issues are made without one from now on");
            self.labels_refused.store(true, Ordering::Relaxed);
            let again: Vec<NewIssue> = refused.iter().map(|&index| issues[index].clone()).collect();
            let retried = self.bulk(&again, false).await?;
            for (index, outcome) in refused.into_iter().zip(retried) {
                outcomes[index] = outcome;
            }
        }
        Ok(outcomes.into_iter().map(|(outcome, _)| outcome).collect())
    }

    async fn find_issues(&self, label: &str) -> Result<Vec<FoundIssue>, ProviderError> {
        let jql = format!(
            "project = {} AND labels = {} ORDER BY created ASC",
            jql_string(&self.project_key),
            jql_string(label)
        );
        let mut found = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..SEARCH_PAGES {
            let mut url = Url::parse(&self.api("search/jql"))
                .map_err(|_| ProviderError::new(SERVICE, "the base URL cannot take a path"))?;
            {
                let mut query = url.query_pairs_mut();
                query
                    .append_pair("jql", &jql)
                    .append_pair("fields", "summary")
                    .append_pair("maxResults", &SEARCH_PAGE.to_string());
                if let Some(token) = page_token.take() {
                    query.append_pair("nextPageToken", &token);
                }
            }
            let request = self
                .client
                .get(url)
                .basic_auth(&self.email, Some(&self.api_token));
            let page: SearchPage = http::json(SERVICE, request).await?;
            found.extend(page.issues.into_iter().map(|issue| FoundIssue {
                url: self.browse(&issue.key),
                key: issue.key,
                summary: issue.fields.summary,
            }));
            match page.next_page_token {
                Some(token) => page_token = Some(token),
                None => return Ok(found),
            }
        }
        Err(ProviderError::new(
            SERVICE,
            format!(
                "more than {} issues carry the label {label}",
                SEARCH_PAGE * SEARCH_PAGES
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_element_refused_for_its_labels_alone_is_sent_again_unlabelled() {
        let labels =
            json!({"errorMessages": [], "errors": {"labels": "Field 'labels' cannot be set."}});
        let summary_too =
            json!({"errors": {"labels": "cannot be set", "summary": "Summary is required"}});
        let message_too = json!({"errorMessages": ["No permission"], "errors": {"labels": "x"}});
        assert!(refuses_only_labels(&labels));
        assert!(!refuses_only_labels(&summary_too));
        assert!(!refuses_only_labels(&message_too));
        assert!(!refuses_only_labels(&json!({})));
    }

    #[test]
    fn labels_and_keys_are_quoted_as_jql_strings() {
        assert_eq!(jql_string("switchboard-1"), r#""switchboard-1""#);
        assert_eq!(jql_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn text_becomes_one_adf_paragraph_per_line() {
        let doc = adf("first\n\nsecond");
        assert_eq!(doc["type"], "doc");
        assert_eq!(doc["content"].as_array().unwrap().len(), 2);
        assert_eq!(doc["content"][1]["content"][0]["text"], "second");
    }

    #[test]
    fn element_errors_are_summarised_for_people() {
        let errors = json!({"errorMessages": ["No project"], "errors": {"summary": "too long"}});
        assert_eq!(error_text(&errors), "No project; summary: too long");
    }
}

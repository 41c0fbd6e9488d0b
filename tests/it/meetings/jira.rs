//! Jira issues made from a meeting's action items: rate limits, refused fields, lost answers
//! and partial failures.

use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use super::recording_handed_over;
use crate::common::fakes::{Fakes, JiraIssues};
use crate::common::scene::{wait_for_status, Scene};

#[tokio::test]
async fn a_jira_429_is_waited_out_for_its_retry_after_then_succeeds() {
    let fakes = Fakes::start().await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    let (jira, Scene { fakes, .. }, done) = done_through_jira(fakes, |_, bulk| {
        bulk.respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_string("Rate limit exceeded"),
        )
        .up_to_n_times(1)
    })
    .await;
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(
        bulk_sizes(&fakes).await,
        [2, 2],
        "refused once, then sent again"
    );
    assert_eq!(jira.all().len(), 2);
    let openai = fakes.openai.received_requests().await.unwrap();
    assert_eq!(openai.len(), 2, "transcription and analysis ran once each");
}

/// How many issues a Jira bulk request asked for.
fn bulk_size(request: &wiremock::Request) -> usize {
    serde_json::from_slice::<Value>(&request.body).unwrap()["issueUpdates"]
        .as_array()
        .map_or(0, Vec::len)
}

/// Hands a recording over and waits for DONE, against a Jira that makes what it is sent and
/// finds it by label, save that its bulk create first answers as `first` says (`bulk` is
/// that route's mock, mounted ahead). The issues Jira made, the scene and the bot's final
/// state.
async fn done_through_jira(
    fakes: Fakes,
    first: impl FnOnce(&JiraIssues, wiremock::MockBuilder) -> Mock,
) -> (JiraIssues, Scene, Value) {
    let jira = JiraIssues::default();
    let bulk = Mock::given(method("POST")).and(path("/rest/api/3/issue/bulk"));
    first(&jira, bulk).with_priority(1).mount(&fakes.jira).await;
    fakes.jira_serves(&jira).await;
    let scene = recording_handed_over(fakes).await;
    let done = wait_for_status(&scene.app, &scene.token, &scene.bot, "DONE").await;
    (jira, scene, done)
}

/// The size of each bulk create Jira received, in order.
async fn bulk_sizes(fakes: &Fakes) -> Vec<usize> {
    let requests = fakes.jira.received_requests().await.unwrap();
    requests
        .iter()
        .filter(|request| request.url.path() == "/rest/api/3/issue/bulk")
        .map(bulk_size)
        .collect()
}

#[tokio::test]
async fn a_project_whose_screen_has_no_labels_still_gets_its_issues_unlabelled() {
    let fakes = Fakes::start().await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    let refusal = json!({"errorMessages": [], "errors": {"labels": "Field 'labels' cannot be set. It is not on the appropriate screen, or unknown."}});
    let (jira, Scene { fakes, .. }, done) = done_through_jira(fakes, |_, bulk| {
        bulk.and(|request: &wiremock::Request| {
            String::from_utf8_lossy(&request.body).contains(r#""labels""#)
        })
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "issues": [],
            "errors": [
                {"status": 400, "failedElementNumber": 0, "elementErrors": refusal},
                {"status": 400, "failedElementNumber": 1, "elementErrors": refusal}
            ]
        })))
    })
    .await;
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(done["tasks"][0]["jiraKey"], "OPS-1");
    assert_eq!(done["tasks"][1]["error"], Value::Null);
    assert_eq!(
        bulk_sizes(&fakes).await,
        [2, 2],
        "refused, then sent unlabelled"
    );
    assert!(jira.all().iter().all(|issue| issue.labels.is_empty()));
}

#[tokio::test]
async fn issues_jira_made_before_its_answer_was_lost_are_found_by_label_not_made_again() {
    let fakes = Fakes::start().await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    // Jira makes both issues, but a gateway times out before its answer comes back.
    let (jira, Scene { fakes, bot: id, .. }, done) = done_through_jira(fakes, |jira, bulk| {
        let made = jira.clone();
        bulk.respond_with(move |request: &wiremock::Request| {
            made.make(request);
            ResponseTemplate::new(504).set_body_string("Gateway Timeout")
        })
        .up_to_n_times(1)
    })
    .await;
    assert_eq!(
        bulk_sizes(&fakes).await,
        [2],
        "the batch was not sent again"
    );
    let made = jira.all();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(
        made.iter()
            .all(|issue| issue.labels == [format!("switchboard-{id}")]),
        "every issue is labelled with its bot: {made:?}"
    );
    assert_eq!(done["resultData"]["tasks_created"], 2);
    assert_eq!(done["tasks"][0]["title"], "Fix the flaky tests");
    assert_eq!(done["tasks"][0]["jiraKey"], "OPS-1");
    assert_eq!(done["tasks"][1]["jiraKey"], "OPS-2");
    let searches = fakes.jira.received_requests().await.unwrap();
    let search = searches
        .iter()
        .find(|request| request.url.path() == "/rest/api/3/search/jql")
        .expect("the retry searched Jira first");
    let jql: String = search
        .url
        .query_pairs()
        .find(|(name, _)| name == "jql")
        .map(|(_, value)| value.into_owned())
        .unwrap();
    assert_eq!(
        jql,
        format!("project = \"OPS\" AND labels = \"switchboard-{id}\" ORDER BY created ASC")
    );
}

#[tokio::test]
async fn issues_created_before_a_later_jira_batch_fails_are_not_created_again() {
    let fakes = Fakes::start().await;
    fakes.transcription_answers().await;
    let items: Vec<Value> = (1..=51)
        .map(|n| json!({"title": format!("Task {n}"), "description": "", "assignee": null}))
        .collect();
    fakes
        .llm_answers_with(json!({"summary": "A long list.", "action_items": items}))
        .await;
    // The second batch (the 51st task) meets an outage once, before Jira made anything.
    let (jira, Scene { fakes, .. }, done) = done_through_jira(fakes, |_, bulk| {
        bulk.and(|request: &wiremock::Request| bulk_size(request) == 1)
            .respond_with(ResponseTemplate::new(503).set_body_string("Service Unavailable"))
            .up_to_n_times(1)
    })
    .await;
    assert_eq!(done["resultData"]["tasks_created"], 51);
    assert_eq!(done["tasks"][50]["jiraKey"], "OPS-51");
    assert_eq!(jira.all().len(), 51, "each task made once");
    let sizes = bulk_sizes(&fakes).await;
    assert_eq!(
        sizes,
        [50, 1, 1],
        "a batch of 50, then the 51st task failing once and sent again alone"
    );
}

#[tokio::test]
async fn jira_partial_failures_are_mapped_back_to_their_tasks() {
    let fakes = Fakes::start().await;
    fakes.transcription_answers().await;
    fakes.llm_answers().await;
    Mock::given(method("POST"))
        .and(path("/rest/api/3/issue/bulk"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "issues": [{"id": "10002", "key": "OPS-2", "self": "x"}],
            "errors": [{"status": 400, "failedElementNumber": 0,
                        "elementErrors": {"errorMessages": [], "errors": {"summary": "Summary is too long"}}}]
        })))
        .mount(&fakes.jira)
        .await;
    let Scene {
        fakes: _fakes,
        app,
        token,
        bot: id,
    } = recording_handed_over(fakes).await;
    let done = wait_for_status(&app, &token, &id, "DONE").await;
    assert_eq!(done["tasks"][0]["jiraKey"], Value::Null);
    assert_eq!(done["tasks"][0]["error"], "summary: Summary is too long");
    assert_eq!(done["tasks"][1]["jiraKey"], "OPS-2");
    assert_eq!(done["resultData"]["tasks_created"], 1);
    assert_eq!(
        done["resultData"]["tasks_failed"][0]["summary"],
        "Fix the flaky tests"
    );
}

//! The database as instances share it.

use serde_json::json;

use crate::common::{TestApp, TestDb};

#[tokio::test]
async fn instances_starting_together_on_a_new_database_both_come_up() {
    let db = TestDb::new().await;
    let (first, second) = if db.is_postgres() {
        // They take turns at the migrations: one applies them, the other finds them done.
        tokio::join!(
            TestApp::builder().db(&db).spawn(),
            TestApp::builder().db(&db).spawn()
        )
    } else {
        // An embedded SQLite file belongs to one process at a time: the second starts on
        // the database the first migrated.
        let first = TestApp::builder().db(&db).spawn().await;
        (first, TestApp::builder().db(&db).spawn().await)
    };
    for app in [&first, &second] {
        let health = app.gql(None, "{ health { database } }", json!({})).await;
        assert_eq!(health["data"]["health"]["database"], "up");
    }
}

//! The event bus between instances.

use std::time::Duration;

use crate::common::{TestApp, TestDb};
use switchboard::events::{Event, Received};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Ping {
    id: String,
    seq: i64,
    note: String,
}

impl Event for Ping {
    fn topic(&self) -> String {
        format!("ping:{}", self.id)
    }
    fn sequence(&self) -> i64 {
        self.seq
    }
}

#[tokio::test]
async fn an_event_published_on_one_instance_reaches_a_subscriber_on_another() {
    let db = TestDb::new().await;
    let a = TestApp::builder().db(&db).spawn().await;
    let mut config = db.config();
    // Same database, same channel: the two instances of one deployment.
    config.events.channel = a.services.config.events.channel.clone();
    let b = TestApp::builder()
        .db(&db)
        .config(move |c| *c = config)
        .spawn()
        .await;

    let mut on_b = b.services.bus.subscribe("ping:42");
    let mut on_a = a.services.bus.subscribe("ping:42");
    let event = Ping {
        id: "42".into(),
        seq: 1,
        note: "hello".into(),
    };
    a.services.bus.publish(event.clone()).await;

    // The publisher's own subscribers get it in process, exactly once.
    let Received::Event(local) = on_a.recv().await else {
        panic!("lagged")
    };
    assert_eq!(local.decode::<Ping>(), Some(event.clone()));

    let wait = Duration::from_millis(if db.is_postgres() { 5000 } else { 300 });
    let remote = tokio::time::timeout(wait, on_b.recv()).await;
    if db.is_postgres() {
        let Ok(Received::Event(remote)) = remote else {
            panic!("no event crossed over LISTEN/NOTIFY")
        };
        assert_eq!(remote.sequence, 1);
        assert_eq!(remote.decode::<Ping>(), Some(event));
        let echo = tokio::time::timeout(Duration::from_millis(300), on_a.recv()).await;
        assert!(echo.is_err(), "an instance ignores its own notification");

        // Too large for a NOTIFY: it crosses as a signal to read the database.
        a.services
            .bus
            .publish(Ping {
                id: "42".into(),
                seq: 2,
                note: "x".repeat(20_000),
            })
            .await;
        let Ok(Received::Event(signal)) = tokio::time::timeout(wait, on_b.recv()).await else {
            panic!("the signal must arrive");
        };
        assert_eq!(signal.sequence, 2);
        assert_eq!(
            signal.decode::<Ping>(),
            None,
            "payload left behind; subscribers read the database"
        );
    } else {
        // SQLite is one instance's database: nothing crosses, and nothing pretends to.
        assert!(remote.is_err(), "SQLite instances share no event channel");
    }
}

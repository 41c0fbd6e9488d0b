//! A local receiver of webhooks, and their verification written from the Standard Webhooks
//! specification, as an integrator would write it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Clone, Default)]
struct Shared {
    received: Arc<Mutex<Vec<Received>>>,
    /// The statuses to answer, in order; 200 once they run out.
    answers: Arc<Mutex<VecDeque<u16>>>,
    /// How long each answer takes.
    delay: Duration,
    /// Requests being answered now, and the most there ever were at once.
    answering: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
    answered: Arc<AtomicUsize>,
}

pub struct Receiver {
    pub url: String,
    shared: Shared,
}

async fn receive(
    State(shared): State<Shared>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    shared.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: body.to_vec(),
    });
    let status = shared.answers.lock().unwrap().pop_front().unwrap_or(200);
    let now = shared.answering.fetch_add(1, Ordering::SeqCst) + 1;
    shared.most_at_once.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(shared.delay).await;
    shared.answering.fetch_sub(1, Ordering::SeqCst);
    shared.answered.fetch_add(1, Ordering::SeqCst);
    (StatusCode::from_u16(status).unwrap(), "thanks")
}

impl Receiver {
    pub async fn start() -> Self {
        Self::answering_in(Duration::ZERO).await
    }

    /// A receiver that takes `delay` to answer each request.
    pub async fn answering_in(delay: Duration) -> Self {
        let shared = Shared {
            delay,
            ..Shared::default()
        };
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self {
            url: format!("http://{addr}/hooks"),
            shared,
        }
    }

    /// Answers these statuses to the next requests, then 200.
    pub fn answer(&self, statuses: &[u16]) {
        self.shared.answers.lock().unwrap().extend(statuses);
    }

    /// How many requests it has answered (the delay over).
    pub fn answered(&self) -> usize {
        self.shared.answered.load(Ordering::SeqCst)
    }

    /// The most requests it was answering at the same time.
    pub fn most_at_once(&self) -> usize {
        self.shared.most_at_once.load(Ordering::SeqCst)
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Waits until at least `n` requests have come; answers them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        for _ in 0..400 {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("expected {n} deliveries, got {:?}", self.received());
    }
}

/// The `v1` signatures of a `webhook-signature` header that verify under `secret`
/// (`whsec_<base64 key>`), as the specification says to check them.
pub fn verifying(secret: &str, received: &Received) -> Vec<usize> {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let signed = [
        received.id.as_bytes(),
        b".",
        received.timestamp.as_bytes(),
        b".",
        &received.body,
    ]
    .concat();
    received
        .signature
        .split(' ')
        .enumerate()
        .filter(|(_, signature)| {
            let Some(("v1", encoded)) = signature.split_once(',') else {
                return false;
            };
            let Ok(expected) = STANDARD.decode(encoded) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
            mac.update(&signed);
            mac.verify_slice(&expected).is_ok()
        })
        .map(|(i, _)| i)
        .collect()
}

/// Whether `received` verifies under `secret`, its timestamp within five minutes of now.
pub fn verifies(secret: &str, received: &Received) -> bool {
    let timestamp: i64 = received.timestamp.parse().unwrap();
    let fresh = (chrono::Utc::now().timestamp() - timestamp).abs() <= 300;
    fresh && !verifying(secret, received).is_empty()
}

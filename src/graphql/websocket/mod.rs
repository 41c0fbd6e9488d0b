//! GraphQL over WebSocket: graphql-transport-ws (the `graphql-ws` library's protocol) and the
//! legacy subscriptions-transport-ws (`graphql-ws` subprotocol). One task per connection reads
//! the client's messages and writes every operation's frames through one outgoing queue, so
//! frames stay whole and in order; once enough waits there for a slow client, its operations
//! are held back. An idle connection is pinged so proxies keep it open, and dropped once its
//! client stops answering.
//!
//! One file per job: `handshake` (the HTTP upgrade's checks and the subprotocol chosen),
//! `frames` (the outgoing queue and its high-water mark), `protocol` (the messages and close
//! codes of both subprotocols), `wake` (which source woke a connection) and `connection` (the
//! loop tying them together). This file is what the router sees.

mod connection;
mod frames;
mod handshake;
mod protocol;
mod wake;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::error::AppError;
use crate::graphql::AppState;
use protocol::Dialect;

pub use connection::MAX_OPERATIONS;

/// The opening handshake (RFC 6455 section 4.2) for HTTP/1.1 upgrades; a request that is not one
/// is refused with the status and message a client can act on.
pub async fn upgrade(State(app): State<AppState>, request: axum::extract::Request) -> Response {
    let (mut parts, _) = request.into_parts();
    let (accept, on_upgrade) = match opening(&mut parts) {
        Ok(opened) => opened,
        Err(refusal) => return refusal.into_graphql_response(),
    };
    // graphql-transport-ws when the client names no protocol, and then none is answered.
    let offered = handshake::offered(&parts.headers);
    let dialect = offered.unwrap_or(Dialect::TransportWs);
    // A message may be as large as a request body, and no larger. Clients' messages are
    // small, so is the read buffer: thousands of idle subscribers cost little memory each, and
    // tungstenite zeroes it before every read attempt, which each wake-up for a frame makes.
    let limit = app.services.config.graphql.body_limit;
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(1024);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        connection::run(upgraded, config, dialect, app).await;
    });
    handshake::switching_protocols(&accept, offered)
}

/// The opening handshake's checks on `parts`: the `Sec-WebSocket-Accept` to answer and the
/// connection to await once the 101 is sent, or why the request is refused.
fn opening(
    parts: &mut axum::http::request::Parts,
) -> Result<(String, hyper::upgrade::OnUpgrade), AppError> {
    let accept = match handshake::key(&parts.method, parts.version, &parts.headers) {
        Ok(key) => derive_accept_key(key.as_bytes()),
        Err((status, message)) => return Err(AppError::bad_request(status, message)),
    };
    let Some(on_upgrade) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(AppError::bad_request(
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded to a WebSocket",
        ));
    };
    Ok((accept, on_upgrade))
}

/// For another WebSocket endpoint (the meetings' Vexa-compatible `/ws`), which speaks no
/// subprotocol: the 101 to answer and the connection once upgraded, or why not.
pub fn accept_plain(
    parts: &mut axum::http::request::Parts,
) -> Result<(Response, hyper::upgrade::OnUpgrade), AppError> {
    let (accept, on_upgrade) = opening(parts)?;
    Ok((handshake::switching_protocols(&accept, None), on_upgrade))
}

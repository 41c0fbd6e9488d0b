//! The opening handshake (RFC 6455 section 4.2) for HTTP/1.1 upgrades: what makes a request
//! one, which subprotocol the connection speaks, and the 101 that answers it. Kept apart from
//! the connection so that what a client must send to get a socket is read in one place.

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};

use super::protocol::Dialect;

/// The client's `Sec-WebSocket-Key` when the request is a WebSocket opening handshake; else
/// the status and message a client can act on.
pub(super) fn key(
    method: &Method,
    version: Version,
    headers: &HeaderMap,
) -> Result<String, (StatusCode, &'static str)> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    };
    if method != Method::GET {
        return Err((
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket opens with a GET request",
        ));
    }
    if version > Version::HTTP_11 {
        return Err((
            StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            "a WebSocket opens over HTTP/1.1",
        ));
    }
    if !has_token(header::CONNECTION, "upgrade") || !has_token(header::UPGRADE, "websocket") {
        return Err((
            StatusCode::BAD_REQUEST,
            "this endpoint speaks WebSocket only: send Connection: upgrade and Upgrade: websocket",
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|version| version.as_bytes() != b"13")
    {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"));
    }
    headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|key| key.to_str().ok())
        .map(str::to_string)
        .ok_or((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing"))
}

/// The client's preferred protocol of those we speak, if it named one.
pub(super) fn offered(headers: &HeaderMap) -> Option<Dialect> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| match name.trim() {
            "graphql-transport-ws" => Some(Dialect::TransportWs),
            "graphql-ws" => Some(Dialect::Legacy),
            _ => None,
        })
}

/// The 101 that completes the handshake. A protocol is answered only when the client named
/// one: a client that offered none must not get one back.
pub(super) fn switching_protocols(accept: &str, offered: Option<Dialect>) -> Response {
    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(dialect) = offered {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(dialect.name()),
        );
    }
    response
}

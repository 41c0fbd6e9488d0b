//! GraphQL over HTTP (POST, and GET for queries), WebSocket (graphql-transport-ws and the
//! legacy graphql-ws) and Server-Sent Events. Each transport turns the caller's credentials
//! into a [`Caller`] and hands the request to the one schema.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::http::{GraphiQLSource, WebSocketProtocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use futures_util::{stream, SinkExt, Stream, StreamExt};

use super::KEEP_ALIVE;
use crate::auth::Caller;
use crate::error::AppError;
use crate::AppState;

/// graphql-transport-ws: 4403 Forbidden is what clients expect for refused credentials.
const CLOSE_FORBIDDEN: u16 = 4403;

pub async fn post(
    State(app): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let caller = app.services.auth.from_headers(&headers).await;
    app.schema
        .execute(request.into_inner().data(caller))
        .await
        .into()
}

/// GET with `?query=` (or an APQ hash) runs the query; a plain GET serves GraphiQL.
pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(query) = query.filter(|q| q.contains("query=") || q.contains("extensions=")) else {
        return Html(
            GraphiQLSource::build()
                .endpoint("/graphql")
                .subscription_endpoint("/graphql/ws")
                .title("Switchboard GraphiQL")
                .finish(),
        )
        .into_response();
    };
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(err) => {
            return AppError::BadInput(format!("bad GraphQL GET request: {err}")).into_response()
        }
    };
    let caller = app.services.auth.from_headers(&headers).await;
    GraphQLResponse::from(app.schema.execute(request.data(caller)).await).into_response()
}

pub async fn websocket(
    State(app): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The client's preferred protocol we speak; graphql-transport-ws when it names none.
    let protocol = headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|name| name.trim().parse::<WebSocketProtocols>().ok())
        .unwrap_or(WebSocketProtocols::GraphQLWS);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        // Small buffers: thousands of idle subscribers should cost little memory each.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .on_upgrade(move |socket| serve_websocket(socket, protocol, app))
}

async fn serve_websocket(socket: WebSocket, protocol: WebSocketProtocols, app: AppState) {
    metrics::gauge!("switchboard_websockets_open").increment(1.0);
    let (mut sink, source) = socket.split();
    let incoming = source
        .take_while(|message| futures_util::future::ready(message.is_ok()))
        .filter_map(|message| async move {
            match message {
                Ok(Message::Text(text)) => Some(text.to_string()),
                Ok(Message::Binary(bytes)) => String::from_utf8(bytes.to_vec()).ok(),
                _ => None,
            }
        });
    let refused = Arc::new(AtomicBool::new(false));
    let auth = app.services.auth.clone();
    let refused_flag = refused.clone();
    let outgoing = async_graphql::http::WebSocket::new(app.schema.clone(), incoming, protocol)
        .keepalive_timeout(None)
        .on_connection_init(move |payload| async move {
            match auth.from_init_payload(&payload).await {
                Caller::Known(viewer) => {
                    let mut data = async_graphql::Data::default();
                    data.insert(Caller::Known(viewer));
                    Ok(data)
                }
                Caller::Anonymous => {
                    refused_flag.store(true, Ordering::Relaxed);
                    Err(async_graphql::Error::new(
                        "Forbidden: connection_init must carry a token (Authorization or token)",
                    ))
                }
                Caller::Rejected(reason) => {
                    refused_flag.store(true, Ordering::Relaxed);
                    Err(async_graphql::Error::new(format!("Forbidden: {reason}")))
                }
            }
        });
    let mut outgoing = std::pin::pin!(outgoing);
    let shutdown = app.services.shutdown.clone();
    loop {
        let message = tokio::select! {
            message = outgoing.next() => message,
            _ = shutdown.cancelled() => Some(WsMessage::Close(1001, "server shutting down".into())),
        };
        let Some(message) = message else { break };
        let frame = match message {
            WsMessage::Text(text) => Message::Text(text.into()),
            WsMessage::Close(code, reason) => {
                let code = if refused.load(Ordering::Relaxed) {
                    CLOSE_FORBIDDEN
                } else {
                    code
                };
                Message::Close(Some(CloseFrame {
                    code,
                    reason: reason.into(),
                }))
            }
        };
        let closing = matches!(frame, Message::Close(_));
        if sink.send(frame).await.is_err() || closing {
            break;
        }
    }
    // The legacy protocol reports a refusal as a text frame; close the socket after it.
    let _ = sink.close().await;
    metrics::gauge!("switchboard_websockets_open").decrement(1.0);
}

#[derive(serde::Deserialize)]
pub struct SseQuery {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
}

/// GraphQL over Server-Sent Events ("distinct connections" mode): `next` events, then
/// `complete`. GET takes `query`, `variables` (JSON) and `operationName` parameters.
pub async fn sse_get(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<SseQuery>,
) -> Response {
    let Some(query) = params.query else {
        return AppError::BadInput("query parameter is required".into()).into_response();
    };
    let mut request = async_graphql::Request::new(query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.variables {
        match serde_json::from_str(&variables) {
            Ok(value) => request = request.variables(async_graphql::Variables::from_json(value)),
            Err(err) => {
                return AppError::BadInput(format!("variables is not JSON: {err}")).into_response()
            }
        }
    }
    sse_response(app, headers, request).await
}

pub async fn sse_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    Json(request): Json<async_graphql::Request>,
) -> Response {
    sse_response(app, headers, request).await
}

async fn sse_response(
    app: AppState,
    headers: HeaderMap,
    request: async_graphql::Request,
) -> Response {
    let caller = app.services.auth.from_headers(&headers).await;
    let schema = app.schema.clone();
    let events = schema
        .execute_stream(request.data(caller), None)
        .map(|response| {
            Ok::<_, Infallible>(
                Event::default()
                    .event("next")
                    .json_data(&response)
                    .unwrap_or_default(),
            )
        })
        .chain(stream::once(async {
            Ok(Event::default().event("complete").data(""))
        }))
        .take_until(app.services.shutdown.clone().cancelled_owned());
    sse(events).into_response()
}

fn sse<S: Stream<Item = Result<Event, Infallible>> + Send + 'static>(
    events: S,
) -> impl IntoResponse {
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

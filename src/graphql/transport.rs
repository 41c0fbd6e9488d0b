//! GraphQL over HTTP (POST, and GET for queries) and Server-Sent Events (WebSocket is in
//! `websocket`). Each transport turns the caller's credentials into a [`Caller`] and hands
//! the request to the one gateway.

use std::convert::Infallible;

use async_graphql::http::GraphiQLSource;
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{Query, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use futures_util::{stream, Stream, StreamExt};

use crate::error::AppError;
use crate::AppState;

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
    let events = app
        .schema
        .subscribe(request, caller)
        .map(|frame| Ok::<_, Infallible>(Event::default().event("next").data(&*frame.payload)))
        .chain(stream::once(async {
            Ok(Event::default().event("complete").data(""))
        }))
        .take_until(app.services.shutdown.clone().cancelled_owned());
    sse(events, app.schema.keep_alive()).into_response()
}

fn sse<S: Stream<Item = Result<Event, Infallible>> + Send + 'static>(
    events: S,
    keep_alive: std::time::Duration,
) -> impl IntoResponse {
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive))
}

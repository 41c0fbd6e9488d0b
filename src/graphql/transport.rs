//! GraphQL over HTTP (POST, and GET for queries) and Server-Sent Events (WebSocket is in
//! `websocket`). Each transport turns the caller's credentials into a [`Caller`] and hands
//! the request to the one gateway.

use std::convert::Infallible;

use async_graphql_axum::GraphQLResponse;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{stream, Stream, StreamExt, TryStreamExt};

use super::{graphiql, AppState};
use crate::error::AppError;

/// A POSTed GraphQL request: one operation as JSON, or a GraphQL multipart request (an
/// operation with file uploads). A body that is neither gets a 4xx with a GraphQL error,
/// never the framework's plain text.
pub struct GraphqlBody(async_graphql::Request);

impl FromRequest<AppState> for GraphqlBody {
    type Rejection = Response;

    async fn from_request(
        request: axum::extract::Request,
        state: &AppState,
    ) -> Result<Self, Response> {
        let config = &state.services.config;
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if let Some(content_type) = content_type.filter(|t| t.starts_with("multipart/form-data")) {
            // Files wait in temporary files; the resolver streams them on.
            let options = async_graphql::http::MultipartOptions::default()
                .max_file_size(usize::try_from(config.media.max_bytes).unwrap_or(usize::MAX))
                .max_num_files(1);
            let body = request
                .into_body()
                .into_data_stream()
                .map_err(std::io::Error::other)
                .into_async_read();
            return async_graphql::http::receive_body(Some(content_type), body, options)
                .await
                .map(GraphqlBody)
                .map_err(|err| match err {
                    async_graphql::ParseRequestError::PayloadTooLarge => {
                        AppError::bad_request(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "the file is larger than the {} bytes this server takes (MEDIA_MAX_BYTES)",
                                config.media.max_bytes
                            ),
                        )
                        .into_graphql_response()
                    }
                    other => bad_request(format!("the multipart request cannot be read: {other}")),
                });
        }
        // Only uploads may be large: anything else is held to the API's limit.
        let (parts, body) = request.into_parts();
        let limited = Body::new(http_body_util::Limited::new(
            body,
            config.graphql.body_limit,
        ));
        let request = axum::extract::Request::from_parts(parts, limited);
        let bytes = Bytes::from_request(request, state).await.map_err(|err| {
            AppError::bad_request(err.status(), err.body_text()).into_graphql_response()
        })?;
        if bytes.trim_ascii_start().starts_with(b"[") {
            return Err(bad_request(
                "batched requests are not supported: send one operation per request".into(),
            ));
        }
        serde_json::from_slice(&bytes)
            .map(GraphqlBody)
            .map_err(|err| bad_request(format!("the body is not a GraphQL request object: {err}")))
    }
}

/// A request a GraphQL transport cannot read: 400, with a GraphQL error.
fn bad_request(message: String) -> Response {
    AppError::bad_request(StatusCode::BAD_REQUEST, message).into_graphql_response()
}

pub async fn post(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphqlBody(request): GraphqlBody,
) -> GraphQLResponse {
    let caller = app.services.auth.from_headers(&headers).await;
    app.schema.execute(request, caller).await.into()
}

/// GraphQL over HTTP's GET parameters, for GET /graphql and GET /graphql/sse: `query`,
/// `operationName`, and `variables` and `extensions` as JSON text.
#[derive(serde::Deserialize)]
pub struct GetParams {
    query: Option<String>,
    #[serde(rename = "operationName")]
    operation_name: Option<String>,
    variables: Option<String>,
    extensions: Option<String>,
}

impl GetParams {
    /// Neither a query nor a persisted query's hash.
    fn is_empty(&self) -> bool {
        self.query.is_none() && self.extensions.is_none()
    }

    fn into_request(self) -> Result<async_graphql::Request, AppError> {
        fn json<T: serde::de::DeserializeOwned>(
            name: &str,
            text: Option<String>,
        ) -> Result<Option<T>, AppError> {
            text.map(|text| {
                serde_json::from_str(&text).map_err(|err| {
                    AppError::bad_request(
                        StatusCode::BAD_REQUEST,
                        format!("{name} is not a JSON object: {err}"),
                    )
                })
            })
            .transpose()
        }
        let mut request = async_graphql::Request::new(self.query.unwrap_or_default());
        request.operation_name = self.operation_name;
        if let Some(variables) = json("variables", self.variables)? {
            request.variables = async_graphql::Variables::from_json(variables);
        }
        if let Some(extensions) = json("extensions", self.extensions)? {
            request.extensions = extensions;
        }
        Ok(request)
    }
}

/// GET with `?query=` (or an APQ hash) runs a query; a plain GET serves GraphiQL.
pub async fn get(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    if params.is_empty() {
        return graphiql::page();
    }
    let request = match params.into_request() {
        Ok(request) => request,
        Err(refusal) => return refusal.into_graphql_response(),
    };
    let caller = app.services.auth.from_headers(&headers).await;
    match app.schema.execute_query(request, caller).await {
        Ok(response) => GraphQLResponse::from(response).into_response(),
        Err(refusal) => {
            let mut response = refusal.into_graphql_response();
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
            response
        }
    }
}

/// GraphQL over Server-Sent Events ("distinct connections" mode): `next` events, then
/// `complete`. GET takes the same parameters as GET /graphql.
pub async fn sse_get(
    State(app): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> Response {
    if params.is_empty() {
        return bad_request("query parameter is required".into());
    }
    match params.into_request() {
        Ok(request) => sse_response(app, headers, request, true).await,
        Err(refusal) => refusal.into_graphql_response(),
    }
}

pub async fn sse_post(
    State(app): State<AppState>,
    headers: HeaderMap,
    GraphqlBody(request): GraphqlBody,
) -> Response {
    sse_response(app, headers, request, false).await
}

async fn sse_response(
    app: AppState,
    headers: HeaderMap,
    request: async_graphql::Request,
    read_only: bool,
) -> Response {
    let caller = app.services.auth.from_headers(&headers).await;
    let every = app.schema.keep_alive();
    let lapsed = std::sync::Arc::new(std::sync::OnceLock::new());
    let credential = crate::auth::credential_in_headers(&headers)
        .ok()
        .flatten()
        .map(str::to_string);
    let watch = credential_lapse(
        app.clone(),
        credential,
        caller.clone(),
        every,
        lapsed.clone(),
    );
    let events = app
        .schema
        .subscribe(request, caller, read_only)
        .map(|frame| Ok::<_, Infallible>(Event::default().event("next").data(&*frame.payload)))
        .take_until(watch)
        .chain(
            stream::once(async move {
                // The stream ends as a subscription refused: its error, then `complete`.
                let refusal = lapsed.get().map(|reason: &String| {
                    let response = AppError::Unauthenticated(reason.clone()).into_graphql_body();
                    let payload = serde_json::to_string(&response).unwrap_or_default();
                    Ok(Event::default().event("next").data(payload))
                });
                let complete = Some(Ok(Event::default().event("complete").data("")));
                stream::iter(refusal.into_iter().chain(complete))
            })
            .flatten(),
        )
        .take_until(app.services.shutdown.clone().cancelled_owned());
    sse(events, every).into_response()
}

/// Resolves, saying why in `lapsed`, once the request's credential no longer makes the
/// caller it made (checked each keep-alive period): a stream outliving its token's expiry or
/// its key's revocation ends then.
async fn credential_lapse(
    app: AppState,
    credential: Option<String>,
    before: crate::auth::Caller,
    every: std::time::Duration,
    lapsed: std::sync::Arc<std::sync::OnceLock<String>>,
) {
    let (Some(credential), crate::auth::Caller::Known(before)) = (credential, before) else {
        return std::future::pending().await;
    };
    loop {
        tokio::time::sleep(every).await;
        if let Err(reason) = app.services.auth.recheck(&credential, &before).await {
            let _ = lapsed.set(reason);
            return;
        }
    }
}

fn sse<S: Stream<Item = Result<Event, Infallible>> + Send + 'static>(
    events: S,
    keep_alive: std::time::Duration,
) -> impl IntoResponse {
    Sse::new(events).keep_alive(KeepAlive::new().interval(keep_alive))
}

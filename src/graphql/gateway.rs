//! The front door every transport (HTTP, WebSocket, SSE) goes through before the schema:
//! Apollo automatic persisted queries, a cache of parsed documents (parsing is the costliest
//! step of a small query), the alias limit, and an `extensions.code` on every error, including
//! the parser's and validator's own. Done here rather than as schema extensions, which would
//! wrap every field of every query.
//!
//! A document is validated in full the first time it is seen; once it has passed, later
//! requests with the same text run on a schema that keeps only the checks that depend on the
//! request (complexity and depth with its variables, fragment cycles). Full validation
//! depends on the document alone, so its verdict holds for every later request.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Request, Response, ServerError};
use axum::http::StatusCode;
use futures_util::stream::{self, BoxStream};
use futures_util::StreamExt;
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::fanout::{Fanout, Frame};
use super::AppSchema;
use crate::auth::Caller;
use crate::error::{code, AppError};

/// Entries each cache keeps; the least recently used goes first.
const CACHED: NonZeroUsize = NonZeroUsize::new(1024).unwrap();

/// A cache keyed by a query's text (or its hash), shared by every request.
type Cache<V> = Arc<Mutex<LruCache<String, V>>>;

fn cache<V>() -> Cache<V> {
    Arc::new(Mutex::new(LruCache::new(CACHED)))
}

/// A cache's contents; one request that panicked while holding it cannot spoil it for all.
fn lock<V>(cache: &Cache<V>) -> MutexGuard<'_, LruCache<String, V>> {
    cache.lock().unwrap_or_else(|e| e.into_inner())
}

/// A parsed document, and whether it has passed full validation.
#[derive(Clone)]
struct Document {
    parsed: Arc<ExecutableDocument>,
    validated: bool,
}

#[derive(Clone)]
pub struct Gateway {
    schema: AppSchema,
    revalidating: AppSchema,
    introspecting: AppSchema,
    max_aliases: usize,
    /// How long a subscription connection may stay silent before a keep-alive.
    keep_alive: Duration,
    documents: Cache<Document>,
    persisted: Cache<Arc<str>>,
    fanout: Fanout,
}

/// A request refused before it ran: the response to send.
fn refusal(error: AppError) -> Box<Response> {
    Box::new(error.into_graphql_body())
}

/// Errors from our resolvers carry a code already; the rest come from parsing, validation
/// or coercing the client's input.
fn tag_errors(mut response: Response) -> Response {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_none() {
            extensions.set("code", code::BAD_USER_INPUT);
        }
    }
    response
}

fn count_aliases(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some())
                    + count_aliases(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

fn document_aliases(doc: &ExecutableDocument) -> usize {
    let operations: usize = doc
        .operations
        .iter()
        .map(|(_, op)| count_aliases(&op.node.selection_set.node))
        .sum();
    let fragments: usize = doc
        .fragments
        .values()
        .map(|f| count_aliases(&f.node.selection_set.node))
        .sum();
    operations + fragments
}

impl Gateway {
    /// `schema` validates in full; `revalidating` (the same schema in fast validation mode)
    /// serves documents that already passed; `introspecting` (validating in full, deep
    /// enough for the introspection query tools send) serves documents that only introspect.
    pub fn new(
        schema: AppSchema,
        revalidating: AppSchema,
        introspecting: AppSchema,
        max_aliases: usize,
        keep_alive: Duration,
    ) -> Self {
        Self {
            schema,
            revalidating,
            introspecting,
            max_aliases,
            keep_alive,
            documents: cache(),
            persisted: cache(),
            fanout: Fanout::default(),
        }
    }

    pub fn schema(&self) -> &AppSchema {
        &self.schema
    }

    pub fn keep_alive(&self) -> Duration {
        self.keep_alive
    }

    /// Resolves a persisted-query hash, and parses (or finds) the document and checks its
    /// aliases; a refusal is the response to send. Also says which schema runs it.
    fn prepare(
        &self,
        mut request: Request,
    ) -> Result<(Request, &AppSchema, Document), Box<Response>> {
        if let Some(hash) = persisted_hash(&request) {
            if request.query.trim().is_empty() {
                let known = lock(&self.persisted).get(&hash).cloned();
                match known {
                    Some(query) => request.query = query.to_string(),
                    None => return Err(refusal(AppError::PersistedQueryNotFound)),
                }
            } else if hex::encode(Sha256::digest(request.query.as_bytes())) != hash {
                return Err(refusal(AppError::BadInput(
                    "provided sha does not match query".into(),
                )));
            } else {
                lock(&self.persisted).put(hash, request.query.as_str().into());
            }
        }
        let cached = lock(&self.documents).get(&request.query).cloned();
        let document = match cached {
            Some(document) => document,
            None => {
                let parsed = async_graphql::parser::parse_query(&request.query).map_err(|err| {
                    tag_errors(Response::from_errors(vec![ServerError::from(err)]))
                })?;
                let aliases = document_aliases(&parsed);
                if aliases > self.max_aliases {
                    return Err(refusal(AppError::BadInput(format!(
                        "Query uses {aliases} aliases; at most {} are allowed.",
                        self.max_aliases
                    ))));
                }
                Document {
                    parsed: Arc::new(parsed),
                    validated: false,
                }
            }
        };
        request.set_parsed_query((*document.parsed).clone());
        let schema = if only_introspects(&document.parsed) {
            &self.introspecting
        } else if document.validated {
            &self.revalidating
        } else {
            &self.schema
        };
        Ok((request, schema, document))
    }

    /// Remembers a document that passed full validation (any failure is reported before
    /// execution, with no data).
    fn remember(&self, query: String, parsed: Arc<ExecutableDocument>, response: &Response) {
        if response.errors.is_empty() || response.data != async_graphql::Value::Null {
            let document = Document {
                parsed,
                validated: true,
            };
            lock(&self.documents).put(query, document);
        }
    }

    /// Runs one operation for `caller`; a caller whose credential failed gets only
    /// UNAUTHENTICATED, whatever it asked for.
    pub async fn execute(&self, request: Request, caller: Caller) -> Response {
        if let Some(unauthenticated) = caller.refusal() {
            return unauthenticated.into_graphql_body();
        }
        match self.prepare(request.data(caller)) {
            Ok((request, schema, document)) => self.run(request, schema, document).await,
            Err(refusal) => *refusal,
        }
    }

    /// As [`Gateway::execute`], for a transport that must not change anything (GraphQL over
    /// HTTP's GET): a mutation is not run, and the error says so.
    pub async fn execute_query(
        &self,
        request: Request,
        caller: Caller,
    ) -> Result<Response, AppError> {
        if let Some(unauthenticated) = caller.refusal() {
            return Ok(unauthenticated.into_graphql_body());
        }
        match self.prepare(request.data(caller)) {
            Ok((request, schema, document)) => {
                match operation_type(&document.parsed, &request.operation_name) {
                    Some(OperationType::Mutation) => Err(AppError::bad_request(
                        StatusCode::METHOD_NOT_ALLOWED,
                        "mutations need POST: GET must not change anything",
                    )),
                    _ => Ok(self.run(request, schema, document).await),
                }
            }
            Err(refusal) => Ok(*refusal),
        }
    }

    async fn run(&self, request: Request, schema: &AppSchema, document: Document) -> Response {
        // The text is kept only for a document seen for the first time.
        let first_seen = (!document.validated).then(|| request.query.clone());
        let response = schema.execute(request).await;
        if let Some(query) = first_seen {
            self.remember(query, document.parsed, &response);
        }
        tag_errors(response)
    }

    /// The frames of an operation sent over a subscription transport (WebSocket, SSE) by
    /// `caller`. Subscriptions go through the fan-out, so identical ones share one execution;
    /// queries and mutations run once, for this caller alone. These always validate in full:
    /// they are long-lived, so the cost is paid once.
    /// `read_only`: the transport must not change anything (SSE's GET), so a mutation is
    /// refused, not run. A caller whose credential failed gets only UNAUTHENTICATED.
    pub fn subscribe(
        &self,
        request: Request,
        caller: Caller,
        read_only: bool,
    ) -> BoxStream<'static, Frame> {
        if let Some(unauthenticated) = caller.refusal() {
            return refused(unauthenticated);
        }
        let (request, _, document) = match self.prepare(request) {
            Ok(prepared) => prepared,
            Err(refusal) => return refusal_frames(refusal),
        };
        let execute = |request| self.schema.execute_stream(request).map(tag_errors).boxed();
        let kind = operation_type(&document.parsed, &request.operation_name);
        if read_only && kind == Some(OperationType::Mutation) {
            return refused(AppError::BadInput(
                "mutations need POST: GET must not change anything".into(),
            ));
        }
        let subscription = kind == Some(OperationType::Subscription);
        if subscription {
            self.fanout.subscribe(execute, request, caller)
        } else {
            execute(request.data(caller))
                .map(|response| Frame::from(&response))
                .boxed()
        }
    }
}

/// An operation refused before it ran: its one frame says why.
pub fn refused(error: AppError) -> BoxStream<'static, Frame> {
    refusal_frames(refusal(error))
}

fn refusal_frames(refusal: Box<Response>) -> BoxStream<'static, Frame> {
    stream::once(async move { Frame::from(&*refusal) }).boxed()
}

/// The type of the operation a request names (or its only one); `None` when there is no
/// such operation, which the schema then reports.
fn operation_type(doc: &ExecutableDocument, wanted: &Option<String>) -> Option<OperationType> {
    doc.operations
        .iter()
        .find(|(name, _)| match wanted {
            Some(wanted) => name.is_some_and(|name| name.as_str() == wanted),
            None => true,
        })
        .map(|(_, operation)| operation.node.ty)
}

/// Whether every operation of `doc` asks only for `__schema`, `__type` or `__typename`.
fn only_introspects(doc: &ExecutableDocument) -> bool {
    doc.operations.iter().all(|(_, operation)| {
        operation
            .node
            .selection_set
            .node
            .items
            .iter()
            .all(|selection| {
                matches!(&selection.node, Selection::Field(field)
                if field.node.name.node.starts_with("__"))
            })
    })
}

fn persisted_hash(request: &Request) -> Option<String> {
    let value = request.extensions.get("persistedQuery")?;
    let json = serde_json::to_value(value).ok()?;
    json.get("sha256Hash")?
        .as_str()
        .map(str::to_ascii_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_counted_through_fragments() {
        let doc =
            async_graphql::parser::parse_query("{ a: x { b: y } ...F } fragment F on Q { c: z }")
                .unwrap();
        assert_eq!(document_aliases(&doc), 3);
    }
}

//! Switchboard: one GraphQL server for meeting bots, AI agents on messengers, live chat,
//! broadcasts and memorial media. [`build`] turns a [`Config`] into a running [`App`].

pub mod agents;
pub mod auth;
pub mod broadcasts;
pub mod channels;
pub mod clock;
pub mod config;
pub mod conversations;
pub mod dashboard;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod input;
pub mod jobs;
pub mod media;
pub mod meetings;
pub mod ops;
pub mod providers;
pub mod rest;
pub mod rotation;
pub mod secrets;
pub mod services;
pub mod text_analysis;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderName, Request};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::auth::{Authenticator, JwtKeys};
use crate::config::Config;
use crate::domain::Domain;
use crate::events::EventBus;
use crate::graphql::AppState;
use crate::jobs::{JobQueue, Worker};
use crate::providers::Providers;

pub use crate::error::{AppError, AppResult};
pub use crate::services::Services;

/// The domains, each adding its routes, jobs and background work (see [`domain::Domain`]).
const DOMAINS: [&dyn Domain; 8] = [
    &auth::DOMAIN,
    &meetings::DOMAIN,
    &agents::DOMAIN,
    &channels::DOMAIN,
    &conversations::DOMAIN,
    &broadcasts::DOMAIN,
    &media::DOMAIN,
    &webhooks::DOMAIN,
];

pub struct App {
    pub state: AppState,
    router: Router,
    worker: Option<Worker>,
    shutdown: CancellationToken,
}

/// Connects, migrates and wires everything; nothing runs until [`App::serve`].
pub async fn build(config: Config) -> anyhow::Result<App> {
    config.validate()?;
    config.prepare_dirs()?;
    // reqwest is built without a default TLS provider; this process uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    ops::prometheus();

    let (jwt, key_source) = JwtKeys::from_config(&config.auth, &config.data_dir)?;
    if let auth::jwt::KeySource::DevelopmentSecret(path) = &key_source {
        tracing::warn!(path = %path.display(), "using the development JWT secret kept under the data directory: not for production");
    }
    let (secrets, secrets_source) =
        secrets::SecretBox::from_config(&config.secrets, &config.data_dir, config.sandbox)?;
    if let secrets::KeySource::DevelopmentSecret(path) = &secrets_source {
        tracing::warn!(path = %path.display(), "encrypting provider secrets with the development key kept under the data directory: not for production");
    }
    if config.sandbox {
        tracing::warn!(
            "SANDBOX MODE: outside services are simulated; nothing is sent to a real provider"
        );
    }

    let db = db::connect(&config).await?;
    db::migrate(&db).await?;

    let shutdown = CancellationToken::new();
    let bus = if config.is_postgres() {
        EventBus::postgres(
            config.events.buffer,
            db.get_postgres_connection_pool().clone(),
            &config.events.channel,
            shutdown.clone(),
        )
        .await?
    } else {
        EventBus::local(config.events.buffer)
    };
    let clock = clock::Clock::default();
    let jobs = JobQueue::new(db.clone(), clock.clone());
    let services = Services::new(services::ServicesInner {
        providers: Providers::from_config(&config)?,
        storage: providers::storage::Storage::from_url(
            config.media.storage_url.as_deref(),
            &config.data_dir,
        )?,
        secrets,
        clock,
        auth: Authenticator::new(jwt.clone(), db.clone()),
        jwt,
        bus,
        jobs: jobs.clone(),
        db: db.clone(),
        config: config.clone(),
        shutdown: shutdown.clone(),
        locals: Default::default(),
    });
    let schema = graphql::build(services.clone(), &config.graphql);
    let state = AppState { services, schema };

    let worker = (!config.jobs.disabled).then(|| {
        DOMAINS
            .iter()
            .flat_map(|domain| domain.job_handlers(&state.services))
            .fold(Worker::new(db, jobs, config.jobs.clone()), Worker::register)
    });
    let router = router(state.clone(), &config);
    Ok(App {
        state,
        router,
        worker,
        shutdown,
    })
}

fn router(state: AppState, config: &Config) -> Router {
    let body_limit = RequestBodyLimitLayer::new(config.graphql.body_limit);
    let upload_limit = RequestBodyLimitLayer::new(config.upload_body_limit());
    let domain_routes = DOMAINS.iter().fold(ops::routes(), |routes, domain| {
        routes.merge(domain.routes())
    });
    let upload_routes = DOMAINS.iter().fold(Router::new(), |routes, domain| {
        routes.merge(domain.upload_routes())
    });
    // GraphQL takes multipart uploads too; its transport holds other requests to the API's
    // limit itself.
    let routes = graphql::routes()
        .with_state(state.clone())
        .merge(upload_routes.with_state(state.services.clone()))
        .layer(upload_limit)
        .merge(
            domain_routes
                .with_state(state.services)
                .merge(dashboard::routes())
                .layer(body_limit),
        );
    server_layers(routes)
}

/// What every route gets: metrics, JSON error bodies, a request id on the response and on
/// every log line of the request. (Each route group has its own body limit.)
pub fn server_layers(routes: Router) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    routes
        .route_layer(axum::middleware::from_fn(ops::record_request))
        .layer(axum::middleware::from_fn(error::json_error_bodies))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
        }))
        .layer(SetRequestIdLayer::new(request_id, FastRequestId))
}

/// A v4 UUID from the thread's fast random generator (the default asks the OS each time).
#[derive(Clone, Copy)]
struct FastRequestId;

impl MakeRequestId for FastRequestId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        id.hyphenated().to_string().parse().ok().map(RequestId::new)
    }
}

impl App {
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Cancel it to stop the server: requests in flight finish, jobs get their grace.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub fn services(&self) -> &Services {
        &self.state.services
    }

    /// Adds a job handler (each domain registers its own).
    pub fn register_job(mut self, handler: Arc<dyn jobs::JobHandler>) -> Self {
        self.worker = self.worker.map(|w| w.register(handler));
        self
    }

    /// Serves until the shutdown token is cancelled, then drains.
    pub async fn serve(self, listener: TcpListener) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.services.config.shutdown_grace_secs);
        let worker = self
            .worker
            .map(|worker| tokio::spawn(worker.run(self.shutdown.clone(), grace)));
        let background: Vec<_> = DOMAINS
            .iter()
            .filter_map(|domain| {
                domain.background(self.state.services.clone(), self.shutdown.clone())
            })
            .map(tokio::spawn)
            .collect();
        let shutdown = self.shutdown.clone();
        // Subscription frames are small and should leave at once, not wait for an ACK.
        // Out of file descriptors: said, counted and waited out (ops::accept).
        let listener = ops::accept::GuardedListener::new(listener).tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, self.router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await?;
        if let Some(worker) = worker {
            let _ = worker.await;
        }
        for work in background {
            let _ = work.await;
        }
        Ok(())
    }
}

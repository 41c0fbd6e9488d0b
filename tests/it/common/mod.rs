//! The test app builder: a real server on 127.0.0.1:0 over a fresh database (SQLite by
//! default; a fresh Postgres schema when TEST_DATABASE_URL is set).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value};
use switchboard::auth::Role;
use switchboard::config::Config;
use switchboard::jobs::JobHandler;
use switchboard::Services;
use tokio_util::sync::CancellationToken;

pub mod animators;
pub mod binary;
pub mod fakes;
pub mod follow;
pub mod node;
pub mod scene;
mod ws;

pub use ws::{Frame, Ws};

/// Every status of a bot that goes all the way, in order.
pub const WALK: [&str; 8] = [
    "INITIALIZED",
    "CONNECTING",
    "AWAITING_ADMISSION",
    "CONNECTED",
    "TRANSCRIBING",
    "ANALYZING_MEETING",
    "CREATING_TASKS",
    "DONE",
];

/// Who the caller is, as the server sees them.
pub const VIEWER_QUERY: &str = "{ viewer { userId organisationId role viaApiKey } }";

/// One database that one or more apps share.
#[derive(Clone)]
pub struct TestDb {
    pub url: String,
    pub dir: PathBuf,
}

impl TestDb {
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let dir = std::env::temp_dir().join(format!("switchboard-test-{id}"));
        std::fs::create_dir_all(&dir).unwrap();
        let url = match std::env::var("TEST_DATABASE_URL") {
            Ok(base) if !base.is_empty() => {
                let schema = format!("t_{}", &id[..16]);
                let admin = sea_orm::Database::connect(base.clone())
                    .await
                    .expect("TEST_DATABASE_URL reachable");
                use sea_orm::ConnectionTrait;
                admin
                    .execute_unprepared(&format!("CREATE SCHEMA {schema}"))
                    .await
                    .unwrap();
                admin.close().await.ok();
                let sep = if base.contains('?') { '&' } else { '?' };
                format!("{base}{sep}options[search_path]={schema}")
            }
            _ => format!("sqlite://{}/switchboard.db?mode=rwc", dir.display()),
        };
        Self { url, dir }
    }

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }

    pub fn config(&self) -> Config {
        let mut config = Config::for_tests(&self.url, &self.dir);
        // Every test database gets its own NOTIFY channel, so parallel tests stay apart.
        config.events.channel = format!("ev_{}", uuid::Uuid::new_v4().simple());
        config
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub services: Services,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<anyhow::Result<()>>,
}

type ConfigTweak = Box<dyn FnOnce(&mut Config)>;

pub struct Builder {
    db: Option<TestDb>,
    handlers: Vec<Arc<dyn JobHandler>>,
    tweak: Option<ConfigTweak>,
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder {
            db: None,
            handlers: vec![],
            tweak: None,
        }
    }

    pub async fn spawn() -> Self {
        Self::builder().spawn().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn token(&self, sub: &str, org: &str, role: Role) -> String {
        self.services.jwt.issue(sub, Some(org), role, 3600).unwrap()
    }

    pub fn admin(&self, org: &str) -> String {
        self.token(&format!("admin-of-{org}"), org, Role::Admin)
    }

    /// POSTs a GraphQL request with an optional bearer credential; returns the JSON body.
    pub async fn gql(&self, credential: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(self.url("/graphql"))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(credential) = credential {
            request = request.bearer_auth(credential);
        }
        let response = request.send().await.unwrap();
        assert!(response.status().is_success(), "HTTP {}", response.status());
        response.json().await.unwrap()
    }

    /// The first column of the first row `sql` (with `$1` for `param`) reads, as text: for
    /// checking what is stored as it is stored.
    pub async fn sql_text(&self, sql: &str, param: &str) -> String {
        use sea_orm::ConnectionTrait;
        let backend = self.services.db.get_database_backend();
        let statement = sea_orm::Statement::from_sql_and_values(
            backend,
            switchboard::db::placeholders(backend, sql),
            [param.into()],
        );
        let row = self.services.db.query_one_raw(statement).await.unwrap();
        row.expect("a row").try_get_by_index(0).unwrap()
    }

    /// Stops the server the way SIGTERM would, and waits for it to drain.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.unwrap().unwrap();
    }

    /// The body of a GET to `path` on this server.
    pub async fn get_text(&self, path: &str) -> String {
        reqwest::get(self.url(path))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// A graphql-transport-ws connection, initialised as acme's admin Ann.
    pub async fn ws_as_admin(&self) -> Ws {
        let token = self.token("ann", "acme", Role::Admin);
        let mut ws = self.ws("graphql-transport-ws").await;
        ws.authenticate(&token).await;
        ws
    }

    pub async fn ws(&self, protocol: &str) -> Ws {
        Ws::connect(self.addr, protocol).await
    }
}

impl Builder {
    pub fn db(mut self, db: &TestDb) -> Self {
        self.db = Some(db.clone());
        self
    }

    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'static) -> Self {
        self.tweak = Some(Box::new(tweak));
        self
    }

    pub fn job(mut self, handler: Arc<dyn JobHandler>) -> Self {
        self.handlers.push(handler);
        self
    }

    pub async fn spawn(self) -> TestApp {
        let db = match self.db {
            Some(db) => db,
            None => TestDb::new().await,
        };
        let mut config = db.config();
        if let Some(tweak) = self.tweak {
            tweak(&mut config);
        }
        let mut app = switchboard::build(config).await.expect("app builds");
        for handler in self.handlers {
            app = app.register_job(handler);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let services = app.services().clone();
        let shutdown = app.shutdown_token();
        let handle = tokio::spawn(app.serve(listener));
        TestApp {
            addr,
            services,
            shutdown,
            handle,
        }
    }
}

/// The `extensions.code` of the first error in a GraphQL response.
pub fn error_code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no error>")
}

//! The built binary run as a user runs it (README "Run it"): `--sandbox` on its embedded
//! SQLite in a data directory of its own, whatever TEST_DATABASE_URL says, with a token from
//! `switchboard token`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

/// `switchboard` with `args`, in `data_dir`, with nothing from the caller's environment
/// that would pick another database or secret.
pub fn switchboard(data_dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .args(args)
        .env("SWITCHBOARD_DATA_DIR", data_dir)
        .env("BOT_SYNC_INTERVAL_SECS", "1")
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .env_remove("JWT_PUBLIC_KEY");
    command
}

/// How to start the server beyond `--sandbox` on a free port.
#[derive(Default)]
pub struct Launch {
    /// Settings added to the environment.
    pub env: Vec<(&'static str, &'static str)>,
    /// Run under `prlimit --nofile=<n>`.
    pub nofile: Option<u64>,
    /// Keep its log (stdout) for [`Server::log`].
    pub log: bool,
}

/// The server process, stopped (SIGKILL) if the test ends before it is told to stop.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

impl Server {
    /// `switchboard --sandbox` on a free port, once it answers `health` HEALTHY.
    pub async fn start_sandbox() -> Server {
        Server::launch(Launch::default()).await
    }

    /// `switchboard --sandbox` started as `launch` says, once it answers `health` HEALTHY.
    pub async fn launch(launch: Launch) -> Server {
        // This process makes HTTP requests without building the app, which installs it otherwise.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data_dir =
            std::env::temp_dir().join(format!("switchboard-sandbox-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data_dir).unwrap();
        // A port the kernel just handed out and took back: free unless something grabs it first.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let mut command = switchboard(&data_dir, &["--sandbox", "--bind", &addr.to_string()]);
        command.envs(launch.env.iter().copied());
        if let Some(nofile) = launch.nofile {
            // The same command under `prlimit --nofile=<n>`: the server's own descriptor limit.
            let mut limited = Command::new("prlimit");
            limited
                .arg(format!("--nofile={nofile}"))
                .arg("--")
                .arg(command.get_program())
                .args(command.get_args());
            for (name, value) in command.get_envs() {
                match value {
                    Some(value) => limited.env(name, value),
                    None => limited.env_remove(name),
                };
            }
            command = limited;
        }
        // The log goes to stdout.
        let stdout = if launch.log {
            Stdio::from(std::fs::File::create(data_dir.join("server.log")).unwrap())
        } else {
            Stdio::null()
        };
        let child = command
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Server {
            child,
            addr,
            data_dir,
        };
        for _ in 0..200 {
            if let Ok(health) = server
                .gql(None, "{ health { status sandbox } }", json!({}))
                .await
            {
                assert_eq!(
                    health["data"]["health"],
                    json!({"status": "HEALTHY", "sandbox": true})
                );
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the sandbox server did not answer within 10 s");
    }

    /// An admin's token from `switchboard token`, signed with the server's development secret.
    pub fn token(&self) -> String {
        let token = switchboard(
            &self.data_dir,
            &["token", "--sub", "ann", "--org", "acme", "--role", "admin"],
        )
        .env("SWITCHBOARD_SANDBOX", "true")
        .output()
        .unwrap();
        assert!(
            token.status.success(),
            "{}",
            String::from_utf8_lossy(&token.stderr)
        );
        String::from_utf8(token.stdout).unwrap().trim().to_string()
    }

    /// What the server has logged so far, when started with `log`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("server.log")).unwrap_or_default()
    }

    pub async fn gql(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> reqwest::Result<Value> {
        let mut request = reqwest::Client::new()
            .post(format!("http://{}/graphql", self.addr))
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await?.json().await
    }
}

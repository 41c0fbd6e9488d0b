use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::auth::{JwtKeys, Role};
use switchboard::config::Config;

#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "GraphQL server for AI-driven conversations"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Print a signed JWT for local use.
    Token {
        #[arg(long)]
        sub: String,
        /// Organisation; the user's own when omitted.
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "admin")]
        role: String,
        #[arg(long, default_value_t = 86_400)]
        ttl: i64,
    },
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => {
            switchboard::ops::init_tracing(config.log_format);
            config.validate()?;
            config.prepare_dirs()?;
            let db = switchboard::db::connect(&config).await?;
            switchboard::db::migrate(&db).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Schema => {
            print!("{}", switchboard::graphql::sdl());
            Ok(())
        }
        Command::Token {
            sub,
            org,
            role,
            ttl,
        } => {
            let role = Role::parse(&role).map_err(|e| anyhow::anyhow!(e.message().to_string()))?;
            if ttl <= 0 {
                anyhow::bail!("--ttl must be positive");
            }
            let (keys, source) = JwtKeys::from_config(&config)?;
            if let switchboard::auth::jwt::KeySource::DevelopmentSecret(path) = source {
                eprintln!("signed with the development secret in {}", path.display());
            }
            println!("{}", keys.issue(&sub, org.as_deref(), role, ttl)?);
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    switchboard::ops::init_tracing(config.log_format);
    let bind = config.bind;
    let app = switchboard::build(config).await?;
    let listener = tokio::net::TcpListener::bind(bind).await?;
    tracing::info!(address = %listener.local_addr()?, "serving GraphQL at /graphql, WebSocket at /graphql/ws, dashboard at /playground");
    let shutdown = app.shutdown_token();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down: finishing requests and jobs in flight");
        shutdown.cancel();
    });
    app.serve(listener).await
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

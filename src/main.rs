use std::process::ExitCode;

use clap::{Parser, Subcommand};
use switchboard::auth::{JwtKeys, Role};
use switchboard::config::Config;

// The settings are global: they may come before or after the subcommand
// (`switchboard --sandbox serve` and `switchboard serve --sandbox` alike).
#[derive(Parser)]
#[command(
    name = "switchboard",
    version,
    about = "GraphQL server for AI-driven conversations",
    mut_args = |arg: clap::Arg| arg.global(true)
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
    /// Re-encrypt every stored provider secret under SWITCHBOARD_SECRET_KEY (those under
    /// SWITCHBOARD_SECRET_KEY_PREVIOUS), so that the previous key can be retired.
    RotateSecrets,
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
        Command::RotateSecrets => {
            switchboard::ops::init_tracing(config.log_format);
            config.validate()?;
            let (secrets, _) = switchboard::secrets::SecretBox::from_config(
                &config.secrets,
                &config.data_dir,
                config.sandbox,
            )?;
            let db = switchboard::db::connect(&config).await?;
            switchboard::db::migrate(&db).await?;
            let report = switchboard::rotation::reseal_all(&db, &secrets)
                .await
                .map_err(|err| anyhow::anyhow!(err.message().to_string()))?;
            for done in report {
                eprintln!(
                    "{}.{}: {} checked, {} re-encrypted",
                    done.table, done.column, done.checked, done.resealed
                );
            }
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
            let (keys, source) = JwtKeys::from_config(&config.auth, &config.data_dir)?;
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
    tracing::info!(address = %listener.local_addr()?, "serving GraphQL at /graphql, WebSocket at /graphql/ws, dashboard at /");
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
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return ctrl_c.await.unwrap_or(());
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap_or_else(|err| panic!("{args:?}: {err}"))
    }

    #[test]
    fn settings_may_come_before_or_after_the_subcommand() {
        for args in [
            &[
                "switchboard",
                "--sandbox",
                "--bind",
                "0.0.0.0:9000",
                "serve",
            ][..],
            &[
                "switchboard",
                "serve",
                "--sandbox",
                "--bind",
                "0.0.0.0:9000",
            ],
            &[
                "switchboard",
                "--sandbox",
                "serve",
                "--bind",
                "0.0.0.0:9000",
            ],
            &["switchboard", "--sandbox", "--bind", "0.0.0.0:9000"],
        ] {
            let cli = parse(args);
            assert!(
                matches!(cli.command, Some(Command::Serve) | None),
                "{args:?}"
            );
            assert!(cli.config.sandbox, "{args:?}");
            assert_eq!(cli.config.bind.to_string(), "0.0.0.0:9000", "{args:?}");
        }
        let migrate = parse(&["switchboard", "migrate", "--database-url", "sqlite://x.db"]);
        assert!(matches!(migrate.command, Some(Command::Migrate)));
        assert_eq!(
            migrate.config.database_url.as_deref(),
            Some("sqlite://x.db")
        );
        let token = parse(&[
            "switchboard",
            "token",
            "--sub",
            "ann",
            "--jwt-secret",
            "0123456789abcdef",
        ]);
        assert!(matches!(token.command, Some(Command::Token { ref sub, .. }) if sub == "ann"));
        assert_eq!(
            token.config.auth.jwt_secret.as_deref(),
            Some("0123456789abcdef")
        );
    }

    #[test]
    fn a_setting_given_before_the_subcommand_is_not_reset_by_its_default_after_it() {
        let cli = parse(&["switchboard", "--graphql-max-depth", "5", "migrate"]);
        assert_eq!(cli.config.graphql.max_depth, 5);
        let cli = parse(&["switchboard", "migrate"]);
        assert_eq!(cli.config.graphql.max_depth, 12);
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}

//! The built binary's command line: settings are taken after the subcommand as well as
//! before it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fresh_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `switchboard args…` in `dir`, with nothing from the environment that would choose
/// another database or secret.
fn run(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("SWITCHBOARD_DATA_DIR")
        .env_remove("JWT_SECRET")
        .env_remove("JWT_PUBLIC_KEY")
        .output()
        .unwrap()
}

#[test]
fn migrate_takes_its_database_and_sandbox_after_the_subcommand() {
    let dir = fresh_dir();
    let database = dir.join("migrated.db");
    let url = format!("sqlite://{}?mode=rwc", database.display());
    let data_dir = dir.join("data");
    let output = run(
        &dir,
        &[
            "migrate",
            "--sandbox",
            "--database-url",
            &url,
            "--data-dir",
            data_dir.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("migrations applied"), "{stderr}");
    assert!(
        database.exists(),
        "the database named after `migrate` was made"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn schema_takes_settings_after_the_subcommand() {
    let dir = fresh_dir();
    let output = run(&dir, &["schema", "--sandbox", "--log-format", "json"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        include_str!("../../schema.graphql")
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn an_unknown_flag_is_still_refused() {
    let dir = fresh_dir();
    let output = run(&dir, &["migrate", "--no-such-setting"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--no-such-setting"));
    let _ = std::fs::remove_dir_all(dir);
}

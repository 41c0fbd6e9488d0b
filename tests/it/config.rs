//! The configuration, as the binary reads it from its environment.

#[test]
fn switches_set_in_the_environment_take_1_and_yes_as_well_as_true() {
    let dir = std::env::temp_dir().join(format!("switchboard-env-{}", uuid::Uuid::new_v4()));
    for (value, works) in [("1", true), ("yes", true), ("true", true), ("maybe", false)] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["token", "--sub", "ann"])
            .env("SWITCHBOARD_SANDBOX", value)
            .env("SWITCHBOARD_DATA_DIR", &dir)
            .env_remove("JWT_SECRET")
            .output()
            .unwrap();
        assert_eq!(
            output.status.success(),
            works,
            "SWITCHBOARD_SANDBOX={value}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        if works {
            assert_eq!(
                String::from_utf8_lossy(&output.stdout).split('.').count(),
                3
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

//! How tokens are checked: an HS256 secret or an RS256 public key. Part of
//! [`crate::config::Config`]; checked by [`AuthConfig::validate`] at start-up.

use anyhow::bail;
use clap::Args;

#[derive(Args, Debug, Clone, Default)]
pub struct AuthConfig {
    /// HS256 secret that signs and checks tokens.
    #[arg(long = "jwt-secret", env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// RS256 public key (PEM text or a path to a PEM file) that checks tokens.
    #[arg(long = "jwt-public-key", env = "JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<String>,
}

impl AuthConfig {
    /// A key is needed unless `sandbox` lets the development secret stand in; a secret must
    /// be long enough not to be guessed.
    pub fn validate(&self, sandbox: bool) -> anyhow::Result<()> {
        if self.jwt_secret.is_none() && self.jwt_public_key.is_none() && !sandbox {
            bail!("set JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256), or run with --sandbox for a development secret");
        }
        if self.jwt_secret.as_ref().is_some_and(|s| s.len() < 16) {
            bail!("JWT_SECRET must be at least 16 characters");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_jwt_secret_is_refused_at_start_up() {
        let config = AuthConfig {
            jwt_secret: Some("short".into()),
            jwt_public_key: None,
        };
        let err = config.validate(false).unwrap_err().to_string();
        assert!(err.contains("at least 16"), "{err}");
        let err = config.validate(true).unwrap_err().to_string();
        assert!(err.contains("at least 16"), "{err}");
    }

    #[test]
    fn production_without_a_key_is_refused_but_sandbox_is_allowed() {
        let config = AuthConfig::default();
        assert!(config.validate(false).is_err());
        assert!(config.validate(true).is_ok());
    }

    #[test]
    fn the_test_configuration_passes_through_the_whole_check() {
        let mut config = crate::config::Config::for_tests("sqlite::memory:", &std::env::temp_dir());
        assert!(config.validate().is_ok());
        config.auth.jwt_secret = Some("short".into());
        assert!(config.validate().is_err(), "Config::validate checks auth");
    }
}

//! JWTs: HS256 with a shared secret, or RS256 checked with a public key.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::{AuthConfig, Credential, Role, Viewer};
use crate::error::{AppError, AppResult};

const DEV_SECRET_FILE: &str = "dev-jwt-secret";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
}

#[derive(Clone)]
pub struct JwtKeys {
    inner: Arc<Keys>,
}

struct Keys {
    decoding: DecodingKey,
    /// Present for HS256: the same secret signs (the `token` command, tests).
    encoding: Option<EncodingKey>,
    validation: Validation,
}

/// Where the keys came from, so start-up can say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Secret,
    PublicKey,
    DevelopmentSecret(std::path::PathBuf),
}

impl JwtKeys {
    pub fn hs256(secret: &[u8]) -> Self {
        Self::build(
            DecodingKey::from_secret(secret),
            Some(EncodingKey::from_secret(secret)),
            Algorithm::HS256,
        )
    }

    pub fn rs256(public_pem: &[u8]) -> anyhow::Result<Self> {
        let decoding = DecodingKey::from_rsa_pem(public_pem)
            .context("JWT_PUBLIC_KEY is not an RSA public key in PEM")?;
        Ok(Self::build(decoding, None, Algorithm::RS256))
    }

    fn build(decoding: DecodingKey, encoding: Option<EncodingKey>, alg: Algorithm) -> Self {
        let mut validation = Validation::new(alg);
        validation.leeway = 30;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            inner: Arc::new(Keys {
                decoding,
                encoding,
                validation,
            }),
        }
    }

    /// The keys the configuration names; with neither set, the development secret under
    /// the data directory (created on first use), which only `--sandbox` and `token` accept.
    pub fn from_config(config: &AuthConfig, data_dir: &Path) -> anyhow::Result<(Self, KeySource)> {
        if let Some(secret) = &config.jwt_secret {
            return Ok((Self::hs256(secret.as_bytes()), KeySource::Secret));
        }
        if let Some(key) = &config.jwt_public_key {
            let pem = if key.trim_start().starts_with("-----BEGIN") {
                key.clone().into_bytes()
            } else {
                std::fs::read(key).with_context(|| format!("reading JWT_PUBLIC_KEY file {key}"))?
            };
            return Ok((Self::rs256(&pem)?, KeySource::PublicKey));
        }
        let path = data_dir.join(DEV_SECRET_FILE);
        let secret = load_or_create_secret(&path)?;
        Ok((
            Self::hs256(secret.as_bytes()),
            KeySource::DevelopmentSecret(path),
        ))
    }

    pub fn sign(&self, claims: &Claims) -> anyhow::Result<String> {
        let key = self.inner.encoding.as_ref().context(
            "tokens can only be signed with an HS256 secret (JWT_SECRET or the sandbox secret)",
        )?;
        Ok(jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            key,
        )?)
    }

    /// Issues a token for `sub` in `org` with `role`, valid for `ttl_secs`.
    pub fn issue(
        &self,
        sub: &str,
        org: Option<&str>,
        role: Role,
        ttl_secs: i64,
    ) -> anyhow::Result<String> {
        let now = chrono::Utc::now().timestamp();
        self.sign(&Claims {
            sub: sub.to_string(),
            org: org.map(str::to_string),
            role: Some(role.as_str().to_string()),
            exp: now + ttl_secs,
            iat: now,
        })
    }

    pub fn verify(&self, token: &str) -> AppResult<Viewer> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|err| {
                    AppError::Unauthenticated(
                        match err.kind() {
                            ErrorKind::ExpiredSignature => "token expired",
                            ErrorKind::InvalidSignature => "token signature is not valid",
                            ErrorKind::InvalidAlgorithm => {
                                "token is signed with the wrong algorithm"
                            }
                            ErrorKind::MissingRequiredClaim(_) => {
                                "token lacks a required claim (sub, exp)"
                            }
                            ErrorKind::ImmatureSignature => "token is not valid yet",
                            _ => "token is malformed",
                        }
                        .to_string(),
                    )
                })?;
        let claims = data.claims;
        if claims.sub.is_empty() {
            return Err(AppError::Unauthenticated("token has an empty sub".into()));
        }
        let role = match claims.role.as_deref() {
            None => Role::Viewer,
            Some(role) => Role::parse(role).map_err(|_| {
                AppError::Unauthenticated(format!("token has an unknown role '{role}'"))
            })?,
        };
        Ok(Viewer {
            org_id: claims
                .org
                .filter(|o| !o.is_empty())
                .unwrap_or_else(|| claims.sub.clone()),
            user_id: claims.sub,
            role,
            credential: Credential::Jwt,
        })
    }
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(secret) = std::fs::read_to_string(path) {
        let secret = secret.trim().to_string();
        if secret.len() >= 32 {
            return Ok(secret);
        }
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let secret = crate::auth::api_keys::random_token(48);
    std::fs::write(path, &secret).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::hs256(b"unit-test-secret-unit-test-secret")
    }

    #[test]
    fn org_defaults_to_sub_and_role_to_viewer() {
        let now = chrono::Utc::now().timestamp();
        let token = keys()
            .sign(&Claims {
                sub: "ann".into(),
                org: None,
                role: None,
                exp: now + 60,
                iat: now,
            })
            .unwrap();
        let viewer = keys().verify(&token).unwrap();
        assert_eq!(viewer.org_id, "ann");
        assert_eq!(viewer.role, Role::Viewer);
    }

    #[test]
    fn expired_and_foreign_tokens_say_why_they_fail() {
        let now = chrono::Utc::now().timestamp();
        let expired = keys()
            .sign(&Claims {
                sub: "ann".into(),
                org: None,
                role: None,
                exp: now - 3600,
                iat: now - 7200,
            })
            .unwrap();
        assert_eq!(
            keys().verify(&expired).unwrap_err().message(),
            "token expired"
        );
        let foreign = JwtKeys::hs256(b"another-secret-another-secret!!")
            .issue("ann", None, Role::Admin, 60)
            .unwrap();
        assert_eq!(
            keys().verify(&foreign).unwrap_err().message(),
            "token signature is not valid"
        );
        assert_eq!(
            keys().verify("garbage").unwrap_err().message(),
            "token is malformed"
        );
    }

    #[test]
    fn an_unknown_role_is_refused() {
        let now = chrono::Utc::now().timestamp();
        let token = keys()
            .sign(&Claims {
                sub: "ann".into(),
                org: None,
                role: Some("root".into()),
                exp: now + 60,
                iat: now,
            })
            .unwrap();
        assert!(keys()
            .verify(&token)
            .unwrap_err()
            .message()
            .contains("unknown role"));
    }
}

//! Signing secrets and signatures the Standard Webhooks way: a secret is `whsec_` and the
//! base64 of 32 random bytes; a delivery carries `webhook-id`, `webhook-timestamp` (unix
//! seconds) and `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`
//! keyed with the secret's decoded bytes, one per secret in use, separated by spaces.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{AppError, AppResult};
use crate::secrets::Secret;

const PREFIX: &str = "whsec_";

/// A new signing secret.
pub fn new_secret() -> Secret {
    let bytes: [u8; 32] = rand::random();
    Secret::new(format!("{PREFIX}{}", STANDARD.encode(bytes)))
}

/// `v1,<signature>` of the message under `secret`.
fn sign_one(secret: &Secret, message: &[u8]) -> AppResult<String> {
    let encoded = secret
        .expose()
        .strip_prefix(PREFIX)
        .unwrap_or(secret.expose());
    let key = STANDARD
        .decode(encoded)
        .map_err(|_| AppError::internal("a stored webhook secret is not base64"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(AppError::internal)?;
    mac.update(message);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The `webhook-signature` header: one `v1,` signature per secret, space-separated.
pub fn signature_header(
    secrets: &[Secret],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> AppResult<String> {
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let signatures = secrets
        .iter()
        .map(|secret| sign_one(secret, &message))
        .collect::<AppResult<Vec<_>>>()?;
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification, signed as its libraries do.
    #[test]
    fn the_specifications_example_signs_as_its_libraries_do() {
        let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let body = br#"{"test": 2432232314}"#;
        let header =
            signature_header(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_new_secret_is_whsec_and_32_random_bytes() {
        let secret = new_secret();
        let encoded = secret.expose().strip_prefix(PREFIX).unwrap();
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), 32);
        assert_ne!(secret.expose(), new_secret().expose());
    }

    #[test]
    fn two_secrets_give_two_signatures_in_order() {
        let (a, b) = (new_secret(), new_secret());
        let both = signature_header(&[a.clone(), b.clone()], "id", 1, b"{}").unwrap();
        let one_a = signature_header(&[a], "id", 1, b"{}").unwrap();
        let one_b = signature_header(&[b], "id", 1, b"{}").unwrap();
        assert_eq!(both, format!("{one_a} {one_b}"));
    }
}

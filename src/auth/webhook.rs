//! Callers that are services, not people: a shared secret sent as a header, or an HMAC-SHA256
//! signature of the body. Compared in constant time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{AppError, AppResult};

fn mac(secret: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(body);
    mac
}

pub fn sign(secret: &str, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC of `body` under `secret`.
fn signed(signature: &str, secret: &str, body: &[u8]) -> bool {
    signature
        .strip_prefix("sha256=")
        .and_then(|hex| hex::decode(hex).ok())
        .is_some_and(|tag| mac(secret, body).verify_slice(&tag).is_ok())
}

/// Accepts `X-Signature-256: sha256=<hex HMAC of the body>`, or the secret itself in
/// `X-Webhook-Secret`, `X-API-Key` or `Authorization: Bearer`. With no secret configured,
/// nothing is accepted.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secret: Option<&str>,
    setting: &str,
) -> AppResult<()> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(AppError::Unauthenticated(format!(
            "callbacks are refused until {setting} is set"
        )));
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(signature) = header("x-signature-256") {
        return if signed(signature, secret, body) {
            Ok(())
        } else {
            Err(AppError::Unauthenticated(
                "signature does not match the body".into(),
            ))
        };
    }
    let presented = header("x-webhook-secret")
        .or_else(|| header("x-api-key"))
        .or_else(|| header("authorization").and_then(|v| v.strip_prefix("Bearer ").map(str::trim)));
    match presented {
        Some(value) if bool::from(value.as_bytes().ct_eq(secret.as_bytes())) => Ok(()),
        Some(_) => Err(AppError::Unauthenticated(format!("wrong {setting}"))),
        None => Err(AppError::Unauthenticated(format!(
            "{setting} (or a signature of the body) missing"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_of_the_exact_body_is_accepted_and_any_other_refused() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-signature-256",
            sign("s3cret", b"{\"a\":1}").parse().unwrap(),
        );
        assert!(verify(&headers, b"{\"a\":1}", Some("s3cret"), "X").is_ok());
        assert!(verify(&headers, b"{\"a\":2}", Some("s3cret"), "X").is_err());
        assert!(verify(&headers, b"{\"a\":1}", Some("other"), "X").is_err());
        for malformed in ["sha256=", "sha256=zz", "md5=00", ""] {
            headers.insert("x-signature-256", malformed.parse().unwrap());
            assert!(verify(&headers, b"{\"a\":1}", Some("s3cret"), "X").is_err());
        }
    }

    #[test]
    fn a_shared_secret_header_works_and_no_configured_secret_refuses_all() {
        let mut headers = HeaderMap::new();
        headers.insert("x-webhook-secret", "s3cret".parse().unwrap());
        assert!(verify(&headers, b"", Some("s3cret"), "X").is_ok());
        assert!(verify(&headers, b"", Some("s3cret!"), "X").is_err());
        assert!(verify(&headers, b"", None, "X")
            .unwrap_err()
            .message()
            .contains("X"));
    }
}

//! Provider credentials encrypted at rest: agent LLM keys, bot tokens, access tokens, app
//! secrets.
//!
//! A sealed value is text that fits a TEXT column: `v1:<key id>:<base64url(nonce || ciphertext)>`,
//! XChaCha20-Poly1305 with a random 24-byte nonce. The key id (the first 8 hex digits of the
//! key's SHA-256) picks the key, so `SWITCHBOARD_SECRET_KEY_PREVIOUS` keeps values sealed under
//! the old key readable while they are resealed. Every value is bound to its place by
//! associated data ([`place`]: table, column, row id), so a value copied into another row or
//! column does not open.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadInOut, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use clap::Args;
use hmac::Mac;
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{AppError, AppResult};

pub const KEY_ENV: &str = "SWITCHBOARD_SECRET_KEY";
pub const PREVIOUS_KEY_ENV: &str = "SWITCHBOARD_SECRET_KEY_PREVIOUS";
const DEV_KEY_FILE: &str = "dev-secret-key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const VERSION: &str = "v1";

/// Keys may be written with either base64 alphabet, padded or not (`openssl rand -base64 32`
/// pads; many generators don't).
const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
const STANDARD_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);
const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);

/// The keys that seal provider secrets; flattened into the main configuration.
#[derive(Args, Clone, Default)]
pub struct SecretsConfig {
    /// 32 random bytes in base64 (`openssl rand -base64 32`) that seal provider secrets at
    /// rest. Without it only `--sandbox` starts, with a key generated under the data directory.
    #[arg(long = "secret-key", env = KEY_ENV, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// The key before the last rotation: values sealed under it still open, and are resealed
    /// under the current key.
    #[arg(long = "secret-key-previous", env = PREVIOUS_KEY_ENV, hide_env_values = true)]
    pub previous: Option<String>,
}

impl fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |key: &Option<String>| key.as_ref().map(|_| "***");
        f.debug_struct("SecretsConfig")
            .field("secret_key", &redact(&self.secret_key))
            .field("previous", &redact(&self.previous))
            .finish()
    }
}

impl SecretsConfig {
    /// Refuses a key that is not 32 bytes of base64; the message never repeats the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if let Some(key) = &self.secret_key {
            decode_key(KEY_ENV, key)?;
        }
        if let Some(key) = &self.previous {
            decode_key(PREVIOUS_KEY_ENV, key)?;
        }
        Ok(())
    }
}

/// Where the current key came from, so start-up can say it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    Configured,
    DevelopmentSecret(PathBuf),
}

/// The associated data that binds a sealed value to its place: `<table>.<column>:<row id>`.
pub fn place(table: &str, column: &str, row_id: impl fmt::Display) -> String {
    format!("{table}.{column}:{row_id}")
}

/// A decrypted credential. It never prints (`***`), and its memory is wiped when dropped.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(Zeroizing::new(value.into()))
    }

    /// The credential itself, for the one place that sends it to its provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Seals and opens provider secrets; cheap to clone.
#[derive(Clone)]
pub struct SecretBox {
    inner: Arc<Keys>,
}

struct Keys {
    current: SealingKey,
    previous: Option<SealingKey>,
}

struct SealingKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// Signs short-lived links; derived from the key, so that no signature reveals it.
    signing: [u8; 32],
}

impl SealingKey {
    fn new(key: &[u8; KEY_LEN]) -> Self {
        let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(b"switchboard link signing");
        Self {
            id: key_id(key),
            cipher: XChaCha20Poly1305::new(&(*key).into()),
            signing: mac.finalize().into_bytes().into(),
        }
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("key_id", &self.key_id())
            .field("previous_key_id", &self.previous_key_id())
            .finish()
    }
}

/// Why a stored value did not open; the messages name the place and key id, never the value.
enum OpenError {
    Malformed,
    UnknownKey(String),
    Rejected,
    NotText,
}

impl SecretBox {
    /// A signature of `message` for `purpose` (hex), for links that carry their own proof,
    /// such as a download that expires.
    pub fn sign(&self, purpose: &str, message: &str) -> String {
        hex::encode(self.link_mac(purpose, message).finalize().into_bytes())
    }

    /// Whether `signature` is [`SecretBox::sign`]'s for `message` and `purpose`, in constant time.
    pub fn verify(&self, purpose: &str, message: &str, signature: &str) -> bool {
        let Ok(signature) = hex::decode(signature) else {
            return false;
        };
        self.link_mac(purpose, message)
            .verify_slice(&signature)
            .is_ok()
    }

    fn link_mac(&self, purpose: &str, message: &str) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.inner.current.signing)
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\n");
        mac.update(message.as_bytes());
        mac
    }

    /// Raw keys: the current one and, during a rotation, the one before it.
    pub fn from_keys(current: &[u8; KEY_LEN], previous: Option<&[u8; KEY_LEN]>) -> Self {
        let current = SealingKey::new(current);
        let previous = previous
            .map(SealingKey::new)
            .filter(|previous| previous.id != current.id);
        Self {
            inner: Arc::new(Keys { current, previous }),
        }
    }

    /// The configured keys; without `SWITCHBOARD_SECRET_KEY`, the development key under
    /// `data_dir` (created on first use, mode 0600), which only `sandbox` accepts.
    pub fn from_config(
        config: &SecretsConfig,
        data_dir: &Path,
        sandbox: bool,
    ) -> anyhow::Result<(Self, KeySource)> {
        let previous = config
            .previous
            .as_deref()
            .map(|key| decode_key(PREVIOUS_KEY_ENV, key))
            .transpose()?;
        if let Some(key) = &config.secret_key {
            let key = decode_key(KEY_ENV, key)?;
            return Ok((
                Self::from_keys(&key, previous.as_deref()),
                KeySource::Configured,
            ));
        }
        if !sandbox {
            bail!(
                "{KEY_ENV} is not set: provider secrets are encrypted at rest with it \
                 (32 random bytes in base64, e.g. `openssl rand -base64 32`); \
                 only --sandbox generates a development key"
            );
        }
        let path = data_dir.join(DEV_KEY_FILE);
        let key = load_or_create_dev_key(&path)?;
        Ok((
            Self::from_keys(&key, previous.as_deref()),
            KeySource::DevelopmentSecret(path),
        ))
    }

    /// The id that values sealed now carry.
    pub fn key_id(&self) -> &str {
        &self.inner.current.id
    }

    pub fn previous_key_id(&self) -> Option<&str> {
        self.inner.previous.as_ref().map(|key| key.id.as_str())
    }

    /// Seals `plaintext` under the current key, bound to `aad` (see [`place`]).
    pub fn seal(&self, plaintext: &str, aad: &str) -> String {
        let key = &self.inner.current;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let nonce = XNonce::from(nonce);
        let header = header(&key.id);
        let aad = associated_data(&header, aad);
        let mut body = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        body.extend_from_slice(&nonce);
        let ciphertext = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 seals any message shorter than 256 GiB");
        body.extend_from_slice(&ciphertext);
        format!("{header}{}", URL_SAFE_NO_PAD.encode(body))
    }

    /// Opens a value [`seal`](Self::seal)ed under the current or the previous key with the same
    /// `aad`. A wrong key, another place's value, a tampered or malformed value: an internal
    /// error that names the place and key id, never the value.
    pub fn open(&self, sealed: &str, aad: &str) -> AppResult<Secret> {
        self.try_open(sealed, aad).map_err(|err| {
            AppError::Internal(match err {
                OpenError::Malformed => {
                    format!("the value stored for {aad} is not a sealed secret")
                }
                OpenError::UnknownKey(id) => format!(
                    "the secret stored for {aad} is sealed under key {id}, which is neither \
                     {KEY_ENV} nor {PREVIOUS_KEY_ENV}"
                ),
                OpenError::Rejected => format!(
                    "the secret stored for {aad} does not open: it was altered, copied from \
                     another place, or sealed under another key"
                ),
                OpenError::NotText => format!("the secret stored for {aad} is not UTF-8 text"),
            })
        })
    }

    /// Whether `sealed` is under the previous key, so a rotation should [`reseal`](Self::reseal) it.
    pub fn needs_rotation(&self, sealed: &str) -> bool {
        match (parse(sealed), &self.inner.previous) {
            (Some((id, _)), Some(previous)) => id == previous.id,
            _ => false,
        }
    }

    /// Opens `sealed` and seals it again under the current key (with a fresh nonce).
    pub fn reseal(&self, sealed: &str, aad: &str) -> AppResult<String> {
        let secret = self.open(sealed, aad)?;
        Ok(self.seal(secret.expose(), aad))
    }

    fn try_open(&self, sealed: &str, aad: &str) -> Result<Secret, OpenError> {
        let (id, body) = parse(sealed).ok_or(OpenError::Malformed)?;
        let keys = &self.inner;
        let key = std::iter::once(&keys.current)
            .chain(keys.previous.as_ref())
            .find(|key| key.id == id)
            .ok_or_else(|| OpenError::UnknownKey(id.to_string()))?;
        let body = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OpenError::Malformed)?;
        if body.len() < NONCE_LEN + TAG_LEN {
            return Err(OpenError::Malformed);
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = XNonce::try_from(nonce).map_err(|_| OpenError::Malformed)?;
        let mut plaintext = Zeroizing::new(ciphertext.to_vec());
        key.cipher
            .decrypt_in_place(&nonce, &associated_data(&header(id), aad), &mut *plaintext)
            .map_err(|_| OpenError::Rejected)?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| OpenError::NotText)?;
        Ok(Secret::new(text))
    }
}

fn header(key_id: &str) -> String {
    format!("{VERSION}:{key_id}:")
}

/// The header is authenticated too, so a value cannot be relabelled.
fn associated_data(header: &str, aad: &str) -> Vec<u8> {
    [header.as_bytes(), aad.as_bytes()].concat()
}

/// `v1:<8 lower-case hex>:<body>` into the key id and the body; anything else is `None`.
fn parse(sealed: &str) -> Option<(&str, &str)> {
    let rest = sealed.strip_prefix(VERSION)?.strip_prefix(':')?;
    let (id, body) = rest.split_once(':')?;
    let is_id = id.len() == 8 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    is_id.then_some((id, body))
}

fn key_id(key: &[u8; KEY_LEN]) -> String {
    hex::encode(&Sha256::digest(key)[..4])
}

fn decode_key(name: &str, value: &str) -> anyhow::Result<Zeroizing<[u8; KEY_LEN]>> {
    let value = value.trim();
    let bytes = Zeroizing::new(
        STANDARD_LENIENT
            .decode(value)
            .or_else(|_| URL_SAFE_LENIENT.decode(value))
            .map_err(|_| {
                anyhow::anyhow!(
                    "{name} is not base64: it must be 32 random bytes in base64 \
                     (e.g. `openssl rand -base64 32`)"
                )
            })?,
    );
    let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
        anyhow::anyhow!(
            "{name} decodes to {} bytes: it must be 32 random bytes in base64 \
             (e.g. `openssl rand -base64 32`)",
            bytes.len()
        )
    })?;
    Ok(Zeroizing::new(key))
}

/// Reads the development key, or writes a new one (mode 0600, never overwriting: values
/// sealed under a key that is lost do not open again).
fn load_or_create_dev_key(path: &Path) -> anyhow::Result<Zeroizing<[u8; KEY_LEN]>> {
    if let Some(key) = read_dev_key(path)? {
        return Ok(key);
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("creating {}", parent.display()))?;
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    rand::rng().fill_bytes(key.as_mut());
    let text = Zeroizing::new(format!("{}\n", STANDARD_LENIENT.encode(key.as_ref())));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(key)
        }
        // Another process made it first: use theirs.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => read_dev_key(path)?
            .with_context(|| format!("{} vanished while it was read", path.display())),
        Err(err) => Err(err).with_context(|| format!("creating {}", path.display())),
    }
}

fn read_dev_key(path: &Path) -> anyhow::Result<Option<Zeroizing<[u8; KEY_LEN]>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Zeroizing::new(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    let key = decode_key(&path.display().to_string(), &text).context(
        "the development secret key is damaged; delete it to make a new one \
         (secrets sealed under the old one will not open)",
    )?;
    Ok(Some(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];
    const OLD_KEY: [u8; KEY_LEN] = [9; KEY_LEN];
    const TOKEN: &str = "sk-live-51HxQ2EXAMPLEexampleEXAMPLE";

    fn secret_box() -> SecretBox {
        SecretBox::from_keys(&KEY, None)
    }

    fn temp_dir() -> PathBuf {
        std::env::temp_dir().join(format!("switchboard-secrets-{}", uuid::Uuid::new_v4()))
    }

    fn config(secret_key: Option<&str>, previous: Option<&str>) -> SecretsConfig {
        SecretsConfig {
            secret_key: secret_key.map(str::to_string),
            previous: previous.map(str::to_string),
        }
    }

    #[test]
    fn a_sealed_secret_opens_with_its_place() {
        let secrets = secret_box();
        let aad = place("agents", "llm_api_key", "1b4e28ba");
        let sealed = secrets.seal(TOKEN, &aad);
        assert!(sealed.starts_with(&format!("v1:{}:", secrets.key_id())));
        assert!(!sealed.contains(TOKEN));
        assert_eq!(secrets.open(&sealed, &aad).unwrap().expose(), TOKEN);
        assert_ne!(
            sealed,
            secrets.seal(TOKEN, &aad),
            "each seal has a fresh nonce"
        );
        assert_eq!(
            secrets
                .open(&secrets.seal("", &aad), &aad)
                .unwrap()
                .expose(),
            ""
        );
    }

    #[test]
    fn a_value_under_the_previous_key_opens_and_is_resealed_under_the_current_one() {
        let aad = place("channels", "bot_token", 42);
        let sealed = SecretBox::from_keys(&OLD_KEY, None).seal(TOKEN, &aad);
        let rotating = SecretBox::from_keys(&KEY, Some(&OLD_KEY));
        assert_eq!(rotating.open(&sealed, &aad).unwrap().expose(), TOKEN);
        assert!(rotating.needs_rotation(&sealed));
        let resealed = rotating.reseal(&sealed, &aad).unwrap();
        assert!(!rotating.needs_rotation(&resealed));
        assert!(resealed.starts_with(&format!("v1:{}:", rotating.key_id())));
        assert_eq!(secret_box().open(&resealed, &aad).unwrap().expose(), TOKEN);
        // Once the previous key is dropped, the old value names the key it lacks.
        let err = secret_box().open(&sealed, &aad).unwrap_err();
        assert!(matches!(&err, AppError::Internal(m) if m.contains(&key_id(&OLD_KEY))));
        assert!(!secret_box().needs_rotation(&sealed));
        assert!(!rotating.needs_rotation(&secret_box().seal(TOKEN, &aad)));
    }

    #[test]
    fn a_value_copied_to_another_place_does_not_open() {
        let secrets = secret_box();
        let sealed = secrets.seal(TOKEN, &place("agents", "llm_api_key", "a"));
        for other in [
            place("agents", "llm_api_key", "b"),
            place("channels", "llm_api_key", "a"),
            String::new(),
        ] {
            let err = secrets.open(&sealed, &other).unwrap_err();
            assert_eq!(err.code(), "INTERNAL");
            assert!(matches!(&err, AppError::Internal(m) if m.contains("does not open")));
        }
    }

    #[test]
    fn a_tampered_value_does_not_open() {
        let secrets = secret_box();
        let sealed = secrets.seal(TOKEN, "p");
        let (header, body) = sealed.rsplit_once(':').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(body).unwrap();
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[i] ^= 1;
            let tampered = format!("{header}:{}", URL_SAFE_NO_PAD.encode(&bytes));
            assert!(secrets.open(&tampered, "p").is_err(), "byte {i} flipped");
            bytes[i] ^= 1;
        }
        // A relabelled header fails too, even when its key id is one the box holds.
        let rotating = SecretBox::from_keys(&KEY, Some(&OLD_KEY));
        let relabelled = sealed.replace(rotating.key_id(), &key_id(&OLD_KEY));
        assert!(rotating.open(&relabelled, "p").is_err());
    }

    #[test]
    fn malformed_values_fail_cleanly() {
        let secrets = secret_box();
        let sealed = secrets.seal(TOKEN, "p");
        let id = secrets.key_id();
        let inputs = [
            String::new(),
            "v1:".into(),
            "v1::".into(),
            format!("v1:{id}"),
            format!("v1:{id}:"),
            format!("v1:{id}:!!not base64!!"),
            format!("v1:{id}:AAAA"),
            format!("v2{}", &sealed[2..]),
            format!("v1:{}:{}", id.to_uppercase(), &sealed[12..]),
            sealed[..sealed.len() - 5].to_string(),
            sealed[..20].to_string(),
            format!("{sealed}:extra"),
            TOKEN.into(),
            "v1:ünïcödé:ü".into(),
        ];
        for input in &inputs {
            let err = secrets.open(input, "p").unwrap_err();
            assert_eq!(err.message(), "internal error", "{input:?}");
            assert!(!secrets.needs_rotation(input));
        }
    }

    #[test]
    fn errors_and_debug_output_never_show_the_secret() {
        let secrets = secret_box();
        let sealed = secrets.seal(TOKEN, "p");
        let opened = secrets.open(&sealed, "p").unwrap();
        assert_eq!(format!("{opened:?}"), "***");
        assert_eq!(format!("{opened}"), "***");
        let (_, body) = sealed.rsplit_once(':').unwrap();
        for input in [
            sealed.as_str(),
            TOKEN,
            &format!("v1:{}:{TOKEN}", secrets.key_id()),
        ] {
            let Err(AppError::Internal(detail)) = secrets.open(input, "elsewhere") else {
                panic!("{input} opened");
            };
            assert!(
                !detail.contains(TOKEN) && !detail.contains(body),
                "{detail}"
            );
        }
        let key = STANDARD_LENIENT.encode(KEY);
        let debug = format!("{:?} {:?}", config(Some(&key), Some(&key)), secrets);
        assert!(!debug.contains(&key) && debug.contains("***"), "{debug}");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        let short = STANDARD_LENIENT.encode([1u8; 16]);
        let err = config(Some(&short), None)
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains(KEY_ENV) && err.contains("16 bytes"), "{err}");
        assert!(!err.contains(&short));
        let err = config(Some(&STANDARD_LENIENT.encode(KEY)), Some("not base64!"))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(PREVIOUS_KEY_ENV) && err.contains("not base64"),
            "{err}"
        );
        // Either alphabet, padded or not, with a trailing newline.
        let key = [0xfb; KEY_LEN];
        for text in [
            STANDARD_LENIENT.encode(key),
            URL_SAFE_NO_PAD.encode(key),
            format!("{}\n", STANDARD_LENIENT.encode(key)),
        ] {
            let (secrets, source) =
                SecretBox::from_config(&config(Some(&text), None), &temp_dir(), false).unwrap();
            assert_eq!(
                (secrets.key_id(), source),
                (key_id(&key).as_str(), KeySource::Configured)
            );
        }
    }

    #[test]
    fn the_flags_fill_the_config() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            secrets: SecretsConfig,
        }
        let key = STANDARD_LENIENT.encode(KEY);
        let old = STANDARD_LENIENT.encode(OLD_KEY);
        let args = [
            "switchboard",
            "--secret-key",
            &key,
            "--secret-key-previous",
            &old,
        ];
        let cli = <Cli as clap::Parser>::try_parse_from(args).unwrap();
        let (secrets, _) = SecretBox::from_config(&cli.secrets, &temp_dir(), false).unwrap();
        assert_eq!(secrets.key_id(), key_id(&KEY));
        assert_eq!(secrets.previous_key_id(), Some(key_id(&OLD_KEY).as_str()));
    }

    #[test]
    fn without_a_key_only_the_sandbox_starts_and_its_key_is_kept() {
        let dir = temp_dir();
        let err = SecretBox::from_config(&config(None, None), &dir, false).unwrap_err();
        assert!(err.to_string().contains(KEY_ENV), "{err}");
        assert!(!dir.exists());

        let (first, source) = SecretBox::from_config(&config(None, None), &dir, true).unwrap();
        let path = dir.join(DEV_KEY_FILE);
        assert_eq!(source, KeySource::DevelopmentSecret(path.clone()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let sealed = first.seal(TOKEN, "p");
        let (second, _) = SecretBox::from_config(&config(None, None), &dir, true).unwrap();
        assert_eq!(second.key_id(), first.key_id());
        assert_eq!(second.open(&sealed, "p").unwrap().expose(), TOKEN);

        // A damaged file is reported, not replaced.
        std::fs::write(&path, "short").unwrap();
        let err = SecretBox::from_config(&config(None, None), &dir, true).unwrap_err();
        assert!(format!("{err:#}").contains("damaged"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

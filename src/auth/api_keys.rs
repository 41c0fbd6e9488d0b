//! API keys for integrators: shown once, stored as a SHA-256 hash, scoped to one
//! organisation, revocable.

use chrono::Utc;
use rand::Rng;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Set,
};
use sha2::{Digest, Sha256};

use super::entity::api_key;
use super::{Credential, Role, Viewer};
use crate::error::{AppError, AppResult};
use crate::input;

pub const KEY_PREFIX: &str = "sb_";

pub use super::entity::api_key::Model as ApiKey;

/// A new key and the one time its secret is visible.
pub struct IssuedKey {
    pub key: ApiKey,
    pub secret: String,
}

pub fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub async fn create(
    db: &DatabaseConnection,
    viewer: &Viewer,
    name: &str,
    role: Role,
) -> AppResult<IssuedKey> {
    viewer.require(Role::Admin)?;
    let name = input::line("name", name, 100)?;
    let secret = format!("{KEY_PREFIX}{}", random_token(40));
    let key = api_key::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        org_id: Set(viewer.org_id.clone()),
        name: Set(name),
        role: Set(role),
        prefix: Set(secret[..KEY_PREFIX.len() + 6].to_string()),
        key_hash: Set(hash(&secret)),
        created_by: Set(viewer.user_id.clone()),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(IssuedKey { key, secret })
}

pub async fn list(db: &DatabaseConnection, viewer: &Viewer) -> AppResult<Vec<ApiKey>> {
    viewer.require(Role::Admin)?;
    Ok(api_key::Entity::find()
        .filter(api_key::Column::OrgId.eq(&viewer.org_id))
        .order_by_desc(api_key::Column::CreatedAt)
        .all(db)
        .await?)
}

pub async fn revoke(db: &DatabaseConnection, viewer: &Viewer, id: &str) -> AppResult<ApiKey> {
    viewer.require(Role::Admin)?;
    let key = api_key::Entity::find_by_id(input::id(id, "API key")?)
        .one(db)
        .await?
        .filter(|k| k.org_id == viewer.org_id)
        .ok_or_else(|| AppError::not_found("API key"))?;
    if key.revoked_at.is_some() {
        return Ok(key);
    }
    let mut active: api_key::ActiveModel = key.into();
    active.revoked_at = Set(Some(Utc::now()));
    Ok(active.update(db).await?)
}

/// The Viewer an API key stands for, or UNAUTHENTICATED for an unknown or revoked key.
pub async fn verify(db: &DatabaseConnection, secret: &str) -> AppResult<Viewer> {
    let key = api_key::Entity::find()
        .filter(api_key::Column::KeyHash.eq(hash(secret)))
        .one(db)
        .await?
        .ok_or_else(|| AppError::Unauthenticated("unknown API key".into()))?;
    if key.revoked_at.is_some() {
        return Err(AppError::Unauthenticated("API key revoked".into()));
    }
    let role = key.role;
    Ok(Viewer {
        org_id: key.org_id,
        user_id: format!("api-key:{}", key.id),
        role,
        credential: Credential::ApiKey { key_id: key.id },
    })
}

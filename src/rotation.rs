//! `switchboard rotate-secrets`: every sealed column re-encrypted under the current key, so
//! that SWITCHBOARD_SECRET_KEY_PREVIOUS can be dropped afterwards.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::db::placeholders;
use crate::error::AppResult;
use crate::secrets::{place, SecretBox};

/// Where the domains keep sealed values: (table, column), each row keyed by `id`.
pub const SEALED_COLUMNS: [(&str, &str); 2] =
    [("agents", "api_key"), ("integrations", "credentials")];

/// What one column's pass did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Resealed {
    pub table: &'static str,
    pub column: &'static str,
    pub checked: u64,
    pub resealed: u64,
}

const BATCH: i64 = 500;

/// Reseals, a batch at a time, every value of `table.column` still under the previous key.
/// Each row is written only if it still holds what was read, so a value changed meanwhile
/// (already under the current key) is left as it is.
pub async fn reseal_column(
    db: &DatabaseConnection,
    secrets: &SecretBox,
    table: &'static str,
    column: &'static str,
) -> AppResult<Resealed> {
    let backend = db.get_database_backend();
    let mut done = Resealed {
        table,
        column,
        ..Resealed::default()
    };
    let mut after = String::new();
    loop {
        let select = format!(
            "SELECT id, {column} AS sealed FROM {table} WHERE id > $1 AND {column} IS NOT NULL \
             ORDER BY id LIMIT {BATCH}"
        );
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                placeholders(backend, &select),
                [after.clone().into()],
            ))
            .await?;
        for row in &rows {
            let id: String = row.try_get("", "id")?;
            let sealed: String = row.try_get("", "sealed")?;
            done.checked += 1;
            if secrets.needs_rotation(&sealed) {
                let fresh = secrets.reseal(&sealed, &place(table, column, &id))?;
                let update =
                    format!("UPDATE {table} SET {column} = $1 WHERE id = $2 AND {column} = $3");
                let written = db
                    .execute_raw(Statement::from_sql_and_values(
                        backend,
                        placeholders(backend, &update),
                        [fresh.into(), id.clone().into(), sealed.into()],
                    ))
                    .await?;
                done.resealed += written.rows_affected();
            }
            after = id;
        }
        if (rows.len() as i64) < BATCH {
            return Ok(done);
        }
    }
}

/// Every sealed column, in turn.
pub async fn reseal_all(db: &DatabaseConnection, secrets: &SecretBox) -> AppResult<Vec<Resealed>> {
    let mut report = Vec::new();
    for (table, column) in SEALED_COLUMNS {
        report.push(reseal_column(db, secrets, table, column).await?);
    }
    Ok(report)
}

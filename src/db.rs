//! The database pool: SQLite in WAL mode with a real pool, or Postgres; migrations run here.

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
    TransactionTrait,
};

use crate::config::Config;
use crate::error::{AppError, AppResult};

pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(config.database_url());
    options
        .max_connections(config.database_max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if !config.is_postgres() {
        // WAL lets readers run beside the one writer.
        options.map_sqlx_sqlite_opts(|opts| {
            use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .create_if_missing(true)
        });
        options.map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|connection, _| Box::pin(sqlite_busy::retry_soon_on(connection)))
        });
    }
    let db = Database::connect(options).await?;
    Ok(db)
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        Migrator::up(db, None).await?;
        return Ok(());
    }
    // Instances starting together on one database take turns: one migrates (in one
    // transaction, as Postgres allows for DDL), the others then find nothing to do.
    let txn = begin(db).await?;
    txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
        .await?;
    Migrator::up(&txn, None).await?;
    txn.commit().await?;
    Ok(())
}

/// Begins a transaction that writes. On SQLite it takes the write lock at BEGIN
/// (IMMEDIATE): a deferred transaction that reads and then writes while another writer holds
/// the lock fails at once with "database is locked" (SQLite cannot let it wait without
/// risking a deadlock), where an immediate one waits its turn in the busy handler. Seen as a
/// reply marked UNKNOWN after its send was recorded in vain (`conversations::load`).
pub async fn begin(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    let sqlite = db.get_database_backend() == sea_orm::DbBackend::Sqlite;
    db.begin_with_options(sea_orm::TransactionOptions {
        sqlite_transaction_mode: sqlite.then_some(sea_orm::SqliteTransactionMode::Immediate),
        ..Default::default()
    })
    .await
}

/// The advisory lock migrations are run under ("swbdmigr").
const MIGRATION_LOCK: i64 = 0x7377_6264_6d69_6772;

/// How a SQLite writer waits for another's write lock. SQLite's own busy handler (what
/// `busy_timeout` installs) sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms between
/// tries: with status changes, job claims and webhooks writing at once, a change whose lock
/// was held for a fraction of a millisecond waited tens of milliseconds, at times hundreds
/// (`cargo bench --bench meetings`, a bot per subscriber). This handler tries again after
/// 50 µs, then waits twice as long each time up to a millisecond, and gives up after 10 s as
/// the busy timeout did, which fails the statement with "database is locked".
mod sqlite_busy {
    use std::ffi::{c_int, c_void};
    use std::time::Duration;

    use sea_orm::sqlx::sqlite::SqliteConnection;
    use sea_orm::sqlx::Error;

    const FIRST_WAIT: Duration = Duration::from_micros(50);
    const LONGEST_WAIT: Duration = Duration::from_millis(1);
    /// About 10 s of waits: a few short ones, then LONGEST_WAIT each.
    const TRIES: c_int = 10_005;

    /// SQLite calls this on the connection's own thread (sqlx's worker, not the async
    /// runtime's), with how many times it has already been called for this lock: non-zero
    /// means try again. The waits double from 50 µs to 1 ms, so that a lock held briefly is
    /// taken soon after it is let go, and waiters on a long one do not spin on the cores the
    /// holder needs.
    extern "C" fn wait_and_retry(_: *mut c_void, tries: c_int) -> c_int {
        if tries >= TRIES {
            return 0;
        }
        let wait = FIRST_WAIT.saturating_mul(1 << tries.clamp(0, 5) as u32);
        std::thread::sleep(wait.min(LONGEST_WAIT));
        1
    }

    // sqlx offers no busy handler of its own: setting ours is a call into SQLite's C API.
    #[allow(unsafe_code)]
    pub(super) async fn retry_soon_on(connection: &mut SqliteConnection) -> Result<(), Error> {
        let mut handle = connection.lock_handle().await?;
        // SAFETY: the locked handle keeps sqlx's worker thread off this connection while the
        // handler is set, and the handler is a plain function that needs no argument.
        let code = unsafe {
            libsqlite3_sys::sqlite3_busy_handler(
                handle.as_raw_handle().as_ptr(),
                Some(wait_and_retry),
                std::ptr::null_mut(),
            )
        };
        if code == libsqlite3_sys::SQLITE_OK {
            Ok(())
        } else {
            Err(Error::Protocol(format!(
                "setting the SQLite busy handler failed with code {code}"
            )))
        }
    }
}

/// Several instances on one Postgres database, one piece of work that only one of them
/// should do (a poll of an outside service, say): the instance holding the session advisory
/// lock `key` does it. When it dies its connection closes, the lock is freed, and another
/// instance takes over when it next asks. On SQLite (one instance) this instance leads.
pub struct Leader {
    pool: Option<sea_orm::sqlx::PgPool>,
    /// Taken out of the pool, so that dropping it closes the session and frees the lock.
    held: Option<sea_orm::sqlx::PgConnection>,
    key: i64,
    work: &'static str,
}

impl Leader {
    /// `work` names the work in the log line said when this instance takes it over.
    pub fn new(db: &DatabaseConnection, key: i64, work: &'static str) -> Self {
        let pool = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| db.get_postgres_connection_pool().clone());
        Self {
            pool,
            held: None,
            key,
            work,
        }
    }

    /// Whether this instance leads now: keeps the lock while its connection lives, and tries
    /// to take it otherwise.
    pub async fn lead(&mut self) -> bool {
        let Some(pool) = &self.pool else { return true };
        if let Some(connection) = self.held.as_mut() {
            if sea_orm::sqlx::query("SELECT 1")
                .execute(&mut *connection)
                .await
                .is_ok()
            {
                return true;
            }
            self.held = None;
        }
        let Ok(mut connection) = pool.acquire().await else {
            return false;
        };
        let taken: Result<bool, _> = sea_orm::sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(self.key)
            .fetch_one(&mut *connection)
            .await;
        if matches!(taken, Ok(true)) {
            tracing::info!(work = self.work, "this instance now leads");
            self.held = Some(connection.detach());
            true
        } else {
            false
        }
    }
}

pub fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Writes `$1`-style placeholders as SQLite's numbered `?1`, so one SQL text serves both.
pub fn placeholders(backend: DbBackend, sql: &str) -> String {
    match backend {
        DbBackend::Postgres => sql.to_string(),
        _ => sql.replace('$', "?"),
    }
}

/// Adds one to `table.column` of the row `id` and answers the new value, on `conn` (the
/// transaction that stores what the number is for): the row's lock keeps two writers from
/// taking the same number. `table` and `column` are our own names, never a caller's.
pub async fn next_sequence<C: ConnectionTrait>(
    conn: &C,
    table: &'static str,
    column: &'static str,
    id: &str,
) -> AppResult<i64> {
    let backend = conn.get_database_backend();
    let sql =
        format!("UPDATE {table} SET {column} = {column} + 1 WHERE id = $1 RETURNING {column}");
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            placeholders(backend, &sql),
            [id.into()],
        ))
        .await?
        .ok_or_else(|| AppError::not_found(table))?;
    Ok(row.try_get("", column)?)
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, TransactionTrait};

    use super::*;

    #[tokio::test]
    async fn a_sqlite_transaction_that_reads_then_writes_waits_for_another_writer() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-db-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/upgrade.db?mode=rwc", dir.display());
        let db = connect(&Config::for_tests(&url, &dir)).await.unwrap();
        db.execute_unprepared("CREATE TABLE notes (n INTEGER)")
            .await
            .unwrap();
        let reading = |db: DatabaseConnection| async move {
            let txn = begin(&db).await?;
            txn.execute_unprepared("SELECT COUNT(*) FROM notes").await?;
            tokio::time::sleep(Duration::from_millis(30)).await;
            txn.execute_unprepared("INSERT INTO notes VALUES (1)")
                .await?;
            txn.commit().await
        };
        // Each reads, waits while the other may write, then writes: deferred, one of them
        // fails with "database is locked"; immediate, they take turns.
        let (a, b) = tokio::join!(reading(db.clone()), reading(db.clone()));
        a.unwrap();
        b.unwrap();
        let count = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM notes",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(count, 2);
    }

    #[tokio::test]
    async fn a_sqlite_writer_blocked_by_another_waits_and_writes_once_the_lock_is_free() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-db-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}/busy.db?mode=rwc", dir.display());
        let db = connect(&Config::for_tests(&url, &dir)).await.unwrap();
        db.execute_unprepared("CREATE TABLE notes (n INTEGER)")
            .await
            .unwrap();

        let holder = db.begin().await.unwrap();
        holder
            .execute_unprepared("INSERT INTO notes VALUES (1)")
            .await
            .unwrap();
        let waiter = tokio::spawn({
            let db = db.clone();
            async move { db.execute_unprepared("INSERT INTO notes VALUES (2)").await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !waiter.is_finished(),
            "the second writer neither failed nor wrote while the first held the lock"
        );
        holder.commit().await.unwrap();
        waiter.await.unwrap().unwrap();

        let count = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) AS n FROM notes",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<i64>("", "n")
            .unwrap();
        assert_eq!(count, 2);
        let _ = std::fs::remove_dir_all(dir);
    }
}

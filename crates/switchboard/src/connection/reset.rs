//! Handing a connection back clean: what a statement leaves behind on its
//! session, what a connection owes when its holder gives it back, and the
//! reset that pays it before the pool lends the connection again.
//!
//! Every statement a connection runs is classified (it already is, for
//! events and guards): one that begins a transaction, or may change the
//! session (settings, roles, temporary objects, prepared statements,
//! cursors, listeners, session locks, user variables), leaves a debt. SQL
//! the classifier cannot read leaves a debt too. A connection that owes
//! nothing goes back to the pool at no cost.

use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(any(feature = "postgres", feature = "sqlite"))]
use diesel::QueryableByName;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
use diesel::sql_types::Text;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
use switchboard_core::{Classified, ResetScope, Result};

use crate::backend::DbConnection;
use crate::config::ResetPolicy;
use crate::guarded::Scope;
use crate::shared::Shared;

/// Functions that change session state from inside an otherwise harmless
/// statement (`SELECT set_config(...)`), matched in lower-cased SQL text:
/// a false match costs one reset, a missed one leaks state, so the list
/// errs wide.
const SESSION_FUNCTIONS: [&str; 8] = [
    "set_config",
    "advisory_lock",
    "nextval",
    "setval",
    "dblink",
    "lo_open",
    "pg_notify",
    "sql_log_bin",
];

/// What one statement leaves behind on its session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Effect {
    /// It begins a transaction (`Some(true)`), ends one (`Some(false)`), or
    /// neither.
    pub(crate) tx: Option<bool>,
    /// It may change session state.
    pub(crate) session: bool,
    /// It may create an SQL-level prepared statement.
    pub(crate) prepares: bool,
}

impl Effect {
    /// Whether the statement leaves nothing behind: it may share a
    /// connection with other callers' statements.
    pub(crate) fn is_neutral(&self) -> bool {
        *self == Effect::default()
    }
}

/// What `sql` (classified as `classified`) leaves behind.
pub(crate) fn effect(sql: &str, classified: &Classified) -> Effect {
    let unknown = Effect {
        tx: None,
        session: true,
        prepares: true,
    };
    let Ok(c) = &**classified else {
        return unknown;
    };
    if c.statements != 1 {
        return unknown;
    }
    // One lower-cased copy, searched with `str::contains`: a search that
    // ignores case in place is slower on long texts than the copy costs.
    // Repeated texts are judged once (`Shared::effect`).
    let lower = sql.to_ascii_lowercase();
    let has = |needle: &str| lower.contains(needle);
    match c.operation.as_str() {
        "BEGIN" | "START TRANSACTION" => Effect {
            tx: Some(true),
            ..Effect::default()
        },
        "COMMIT" | "END" => Effect {
            tx: Some(false),
            ..Effect::default()
        },
        // `ROLLBACK TO SAVEPOINT` ends no transaction.
        "ROLLBACK" if !has(" to ") => Effect {
            tx: Some(false),
            ..Effect::default()
        },
        "SAVEPOINT" | "RELEASE SAVEPOINT" | "ROLLBACK" => Effect::default(),
        "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "VALUES" | "TABLE" | "SHOW"
        | "EXPLAIN" => {
            // `SELECT ... INTO` makes a table (PostgreSQL) or sets a user
            // variable (MySQL); `@x` reads or writes user variables.
            let session = sql.contains('@')
                || (c.operation == "SELECT" && has(" into "))
                || SESSION_FUNCTIONS.iter().any(|f| has(f));
            Effect {
                tx: None,
                session,
                prepares: false,
            }
        }
        // Persistent objects and privileges, unless the object is
        // temporary (session-scoped).
        op if [
            "CREATE", "ALTER", "DROP", "TRUNCATE", "COMMENT", "GRANT", "REVOKE", "RENAME",
        ]
        .iter()
        .any(|p| op.starts_with(p)) =>
        {
            Effect {
                tx: None,
                session: has("temp"),
                prepares: false,
            }
        }
        "VACUUM" | "ANALYZE" | "CHECKPOINT" => Effect::default(),
        "PREPARE" => Effect {
            tx: None,
            session: true,
            prepares: true,
        },
        _ => Effect {
            tx: None,
            session: true,
            prepares: false,
        },
    }
}

/// What a connection owes since it was lent, noted statement by statement
/// (from the connection's own thread, or SQLite's blocking thread through
/// instrumentation).
#[derive(Debug, Default)]
pub(crate) struct Debt {
    tx_open: AtomicBool,
    session: AtomicBool,
    prepared: AtomicBool,
}

/// A connection's debt, taken when its holder gives it back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Owed {
    /// A transaction it began is still open (as far as its statements
    /// tell; a reset rolls back whatever it finds either way).
    pub(crate) tx_open: bool,
    /// Its session may have changed.
    pub(crate) session: bool,
    /// SQL-level prepared statements may exist.
    pub(crate) prepared: bool,
}

impl Owed {
    pub(crate) fn is_nothing(&self) -> bool {
        !self.tx_open && !self.session
    }
}

impl Debt {
    pub(crate) fn note(&self, effect: Effect) {
        if let Some(open) = effect.tx {
            self.tx_open.store(open, Ordering::Relaxed);
        }
        if effect.session {
            self.session.store(true, Ordering::Relaxed);
        }
        if effect.prepares {
            self.prepared.store(true, Ordering::Relaxed);
        }
    }

    /// A transaction began or ended through diesel's transaction manager.
    pub(crate) fn note_transaction(&self, open: bool) {
        self.tx_open.store(open, Ordering::Relaxed);
    }

    /// What is owed, clearing it.
    pub(crate) fn take(&self) -> Owed {
        Owed {
            tx_open: self.tx_open.swap(false, Ordering::Relaxed),
            session: self.session.swap(false, Ordering::Relaxed),
            prepared: self.prepared.swap(false, Ordering::Relaxed),
        }
    }
}

/// How a reset ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The connection is clean; `ResetScope` says what was done.
    Done(ResetScope),
    /// The session can only be cleared by replacing the connection
    /// (MySQL's).
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    Replace,
}

/// Pays what `conn` owes, per the pool's [`ResetPolicy`]. An open
/// transaction is always rolled back, whatever the policy.
pub(crate) async fn reset(
    conn: &mut DbConnection,
    shared: &Shared,
    owed: Owed,
    scope: Scope,
) -> Result<Outcome> {
    let policy = &shared.config.reset;
    let session = owed.session && matches!(policy, ResetPolicy::Session | ResetPolicy::Custom(_));
    if !session {
        rollback(conn).await?;
        return Ok(Outcome::Done(ResetScope::Rollback));
    }
    if let ResetPolicy::Custom(sql) = policy {
        rollback(conn).await?;
        conn.raw_batch_execute(sql).await?;
        return Ok(Outcome::Done(ResetScope::Custom));
    }
    let replace = match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(g) => {
            let c = g.raw();
            // `DISCARD ALL` would also drop the driver's own prepared
            // statements (diesel-async caches them by name and would fail
            // on its next use of one); this is the rest of it.
            c.batch_execute(
                "ROLLBACK; CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; \
                 UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES",
            )
            .await?;
            if owed.prepared {
                deallocate_sql_prepared(c).await?;
            }
            false
        }
        // diesel-async keeps the mysql_async connection, and with it
        // `COM_RESET_CONNECTION`, private; SQL cannot list user variables
        // or temporary tables. Only a new connection is certainly clean.
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(_) => true,
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(g) => {
            let c = g.raw();
            rollback_sqlite(c).await?;
            drop_sqlite_temp_objects(c).await?;
            c.batch_execute(crate::backend::SQLITE_SESSION_PRAGMAS)
                .await?;
            false
        }
    };
    if replace {
        return Ok(Outcome::Replace);
    }
    shared.hooks.setup.run(conn, scope).await?;
    Ok(Outcome::Done(ResetScope::Session))
}

async fn rollback(conn: &mut DbConnection) -> Result<()> {
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(g) => rollback_sqlite(g.raw()).await,
        // Both answer a ROLLBACK outside a transaction with a warning at
        // most.
        #[cfg(any(feature = "postgres", feature = "mysql"))]
        other => other.raw_batch_execute("ROLLBACK").await,
    }
}

/// SQLite refuses a `ROLLBACK` with no transaction open: that refusal
/// means there is nothing to roll back.
#[cfg(feature = "sqlite")]
async fn rollback_sqlite(c: &mut crate::backend::SqliteAsync) -> Result<()> {
    match c.batch_execute("ROLLBACK").await {
        Ok(()) => Ok(()),
        Err(e) if e.to_string().contains("no transaction is active") => Ok(()),
        Err(e) => Err(switchboard_core::Error::from(&e)),
    }
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
#[derive(QueryableByName)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
    /// Read by SQLite's reset only.
    #[diesel(sql_type = Text)]
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    kind: String,
}

/// Drops `PREPARE`d statements (the driver's own are protocol-level and
/// not `from_sql`).
#[cfg(feature = "postgres")]
async fn deallocate_sql_prepared(c: &mut diesel_async::AsyncPgConnection) -> Result<()> {
    let names: Vec<Named> = diesel::sql_query(
        "SELECT name, 'prepared' AS kind FROM pg_prepared_statements WHERE from_sql",
    )
    .load(c)
    .await?;
    for Named { name, .. } in names {
        c.batch_execute(&format!("DEALLOCATE {}", quote_ident(&name)))
            .await?;
    }
    Ok(())
}

/// Drops temporary tables, views and triggers, and detaches attached
/// databases.
#[cfg(feature = "sqlite")]
async fn drop_sqlite_temp_objects(c: &mut crate::backend::SqliteAsync) -> Result<()> {
    let temps: Vec<Named> = diesel::sql_query(
        "SELECT name, type AS kind FROM sqlite_temp_master \
         WHERE type IN ('table', 'view', 'trigger') AND name NOT LIKE 'sqlite_%'",
    )
    .load(c)
    .await?;
    for Named { name, kind } in temps {
        let what = match kind.as_str() {
            "view" => "VIEW",
            "trigger" => "TRIGGER",
            _ => "TABLE",
        };
        c.batch_execute(&format!(
            "DROP {what} IF EXISTS temp.{}",
            quote_ident(&name)
        ))
        .await?;
    }
    let attached: Vec<Named> = diesel::sql_query(
        "SELECT name, 'database' AS kind FROM pragma_database_list WHERE name NOT IN ('main', 'temp')",
    )
    .load(c)
    .await?;
    for Named { name, .. } in attached {
        c.batch_execute(&format!("DETACH DATABASE {}", quote_ident(&name)))
            .await?;
    }
    Ok(())
}

/// `name` as a double-quoted SQL identifier.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests;

//! The read-only backstop: while a read-only switch the pool watches is on
//! (the rule engine's read-only mode), the database itself refuses writes,
//! so a statement the parser misread still cannot write.
//!
//! - Each connection is switched before its next piece of work once the
//!   mode changed: PostgreSQL `SET SESSION default_transaction_read_only`,
//!   MySQL/MariaDB `SET SESSION TRANSACTION READ ONLY|WRITE`, SQLite
//!   `PRAGMA query_only`. A new connection is switched before its first
//!   use. Checking costs one atomic load per piece of work.
//! - While the mode is on, a statement that would turn the database's
//!   setting off again (`SET ... read_only`, `set_config(...)`, `PRAGMA
//!   query_only`, `... READ WRITE`, `RESET`, `DISCARD`) is refused with
//!   `Denied` by `read-only`, after the guards had their say.
//! - A statement that may have reset the setting without naming it (a
//!   `ROLLBACK` undoing a `SET` made inside the transaction, any other
//!   misc statement) makes the connection check it again before its next
//!   work.
//!
//! What it does not catch: a function that changes the setting from the
//! inside (`SELECT f()` where `f` calls `set_config`) turns it off for the
//! *next* transactions on that connection, until the next switch or the
//! next misc statement.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

#[cfg(feature = "postgres")]
use diesel_async::SimpleAsyncConnection;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use switchboard_core::{Backend, ReadOnly, Result};

use crate::backend::DbConnection;
use crate::shared::Shared;

/// The name `Denied` events and errors give the backstop.
pub(crate) const NAME: &str = "read-only";

const REFUSAL: &str = "read-only mode: this statement would change the database's read-only setting, which enforces the mode; it is refused";

/// The read-only switches a pool watches: on when any is on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Switches(Vec<ReadOnly>);

impl Switches {
    /// Watches `switch` too (once, however often it is added).
    pub(crate) fn add(&mut self, switch: ReadOnly) {
        if !self.0.iter().any(|s| s.same(&switch)) {
            self.0.push(switch);
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn is_on(&self) -> bool {
        self.0.iter().any(ReadOnly::is_on)
    }

    /// Changes whenever any switch changes (generations only grow).
    fn stamp(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, s| sum.wrapping_add(s.generation()))
    }
}

/// What one connection's database setting is known to be.
#[derive(Debug, Default)]
pub(crate) struct Backstop {
    /// The switches' stamp when the setting was last made to match.
    synced: AtomicU64,
    /// Whether the setting was last turned on.
    on: AtomicBool,
}

/// A stamp no switch produces: the setting must be checked again.
const UNKNOWN: u64 = u64::MAX;

impl Backstop {
    /// The setting may have been undone (a rollback, a `SET`, ...): make it
    /// match again before the next work. Free unless it was on.
    pub(crate) fn forget(&self) {
        if self.on.load(Ordering::Relaxed) {
            self.synced.store(UNKNOWN, Ordering::Relaxed);
        }
    }

    /// Whether the setting was last turned on.
    #[cfg(feature = "sqlite")]
    pub(crate) fn is_on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// What to switch the setting to, if anything, and the stamp to record
    /// once done.
    fn due(&self, switches: &Switches) -> Option<(bool, u64)> {
        if switches.is_empty() {
            return None;
        }
        let stamp = switches.stamp();
        if self.synced.load(Ordering::Relaxed) == stamp {
            return None;
        }
        let want = switches.is_on();
        if !want && !self.on.load(Ordering::Relaxed) {
            self.synced.store(stamp, Ordering::Relaxed);
            return None;
        }
        Some((want, stamp))
    }

    fn done(&self, on: bool, stamp: u64) {
        self.on.store(on, Ordering::Relaxed);
        self.synced.store(stamp, Ordering::Relaxed);
    }
}

fn setting(backend: Backend, on: bool) -> &'static str {
    match (backend, on) {
        (Backend::Postgres, true) => "SET SESSION default_transaction_read_only = on",
        (Backend::Postgres, false) => "SET SESSION default_transaction_read_only = off",
        (Backend::Mysql, true) => "SET SESSION TRANSACTION READ ONLY",
        (Backend::Mysql, false) => "SET SESSION TRANSACTION READ WRITE",
        (_, true) => "PRAGMA query_only = ON",
        (_, false) => "PRAGMA query_only = OFF",
    }
}

/// Makes `conn`'s read-only setting match the pool's switches, if they
/// changed since it last did.
pub(crate) async fn sync(
    backstop: &Backstop,
    shared: &Shared,
    conn: &mut DbConnection,
) -> Result<()> {
    let Some((on, stamp)) = backstop.due(&shared.read_only) else {
        return Ok(());
    };
    conn.raw_batch_execute(setting(shared.backend, on))
        .await
        .map_err(|e| shared.scrub(e))?;
    tracing::debug!(pool = %shared.pool, read_only = on, "connection switched");
    backstop.done(on, stamp);
    Ok(())
}

/// [`sync`] for a PostgreSQL connection shared by pipelined statements:
/// sent ahead of the statement on the same pipeline.
#[cfg(feature = "postgres")]
pub(crate) async fn sync_shared(
    backstop: &Backstop,
    shared: &Shared,
    conn: &AsyncPgConnection,
) -> Result<()> {
    let Some((on, stamp)) = backstop.due(&shared.read_only) else {
        return Ok(());
    };
    let mut conn = conn;
    conn.batch_execute(setting(Backend::Postgres, on))
        .await
        .map_err(|e| shared.db_error(&e))?;
    backstop.done(on, stamp);
    Ok(())
}

/// Why `sql` is refused while read-only mode is on, if it is.
pub(crate) fn refuses(shared: &Shared, sql: &str) -> Option<&'static str> {
    if shared.read_only.is_empty() || !shared.read_only.is_on() {
        return None;
    }
    changes_read_only(sql).then_some(REFUSAL)
}

/// The settings that hold the database's read-only mode, and the function
/// that sets any setting.
const SETTINGS: [&str; 5] = [
    "default_transaction_read_only",
    "transaction_read_only",
    "tx_read_only",
    "query_only",
    "set_config",
];

/// Whether `sql` may change the database's read-only setting: it names
/// one (or `set_config`), asks for `READ WRITE`, resets session state
/// (`RESET`, `DISCARD`), or spells names with Unicode escapes (`U&"..."`).
/// Over-refuses rather than under-refuses: words inside comments and
/// literals count too.
fn changes_read_only(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase();
    if lower.contains("u&\"") || lower.contains("u&'") {
        return true;
    }
    for chunk in lower.split(';') {
        let mut words = chunk
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .peekable();
        if matches!(words.peek(), Some(&("reset" | "discard"))) {
            return true;
        }
        let mut previous = "";
        for word in words {
            if SETTINGS.contains(&word) || (previous == "read" && word == "write") {
                return true;
            }
            previous = word;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_that_undo_the_setting_are_recognised_in_every_spelling() {
        for sql in [
            "SET SESSION default_transaction_read_only = off",
            "set default_transaction_read_only to default",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
            "SET TRANSACTION READ\n\t WRITE",
            "START TRANSACTION READ/**/WRITE",
            "BEGIN READ WRITE",
            "SELECT set_config('default_transaction_' || 'read_only', 'off', false)",
            "SELECT pg_catalog.\"set_config\"('x', 'y', false)",
            "RESET ALL",
            "  discard all",
            "SELECT 1; RESET default_transaction_read_only",
            "SET @@session.transaction_read_only = 0",
            "SET tx_read_only = 0",
            "/*!50000 SET SESSION TRANSACTION READ WRITE */",
            "PRAGMA query_only = 0",
            "PRAGMA main.\"query_only\" = false",
            "SET U&\"default_transaction_read\\005Fonly\" = off",
        ] {
            assert!(changes_read_only(sql), "{sql}");
        }
    }

    #[test]
    fn ordinary_statements_pass() {
        for sql in [
            "SELECT * FROM users WHERE status = 'read'",
            "SELECT COUNT(*) FROM sb_read_only_mode_1",
            "SELECT query_only_flag FROM t",
            "INSERT INTO log (what) VALUES ('reset password')",
            "SET search_path = app",
            "SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE",
            "PRAGMA user_version",
        ] {
            assert!(!changes_read_only(sql), "{sql}");
        }
    }

    #[test]
    fn a_connection_switches_once_per_change_and_again_after_forgetting() {
        let switch = ReadOnly::new(false);
        let mut switches = Switches::default();
        switches.add(switch.clone());
        switches.add(switch.clone());
        assert_eq!(switches.0.len(), 1, "the same switch is watched once");
        let b = Backstop::default();
        assert_eq!(b.due(&switches), None, "off, and never switched on");
        switch.set(true);
        let (on, stamp) = b.due(&switches).expect("switched on");
        assert!(on);
        b.done(on, stamp);
        assert_eq!(b.due(&switches), None, "already on");
        b.forget();
        assert_eq!(b.due(&switches), Some((true, stamp)), "checked again");
        b.done(true, stamp);
        switch.set(false);
        let (on, stamp) = b.due(&switches).expect("switched off");
        assert!(!on);
        b.done(on, stamp);
        b.forget();
        assert_eq!(b.due(&switches), None, "forgetting costs nothing while off");
    }
}

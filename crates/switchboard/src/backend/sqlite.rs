//! SQLite specifics: URL forms, the shared in-memory database, pragmas.

use std::sync::atomic::{AtomicU64, Ordering};

use diesel_async::SimpleAsyncConnection;
use switchboard_core::{DatabaseUrl, Error, Result};

use super::SqliteAsync;

static NEXT_MEMORY_DB: AtomicU64 = AtomicU64::new(1);

/// The path or URI diesel opens for a `sqlite:` URL.
///
/// `sqlite::memory:` (and `sqlite://:memory:`) becomes a named shared-cache
/// in-memory database unique to the pool, so every connection of the pool
/// sees the same data (a plain `:memory:` would give each its own).
pub(crate) fn sqlite_target(url: &DatabaseUrl) -> Result<String> {
    let raw = url.expose();
    let rest = raw
        .strip_prefix("sqlite://")
        .or_else(|| raw.strip_prefix("sqlite:"))
        .unwrap_or_default();
    if rest == ":memory:" {
        let n = NEXT_MEMORY_DB.fetch_add(1, Ordering::Relaxed);
        return Ok(format!(
            "file:switchboard-mem-{}-{n}?mode=memory&cache=shared",
            std::process::id()
        ));
    }
    if rest.is_empty() {
        return Err(Error::InvalidUrl {
            url: url.redacted().to_owned(),
            reason: "no SQLite file given; use sqlite://path/to/file.db or sqlite::memory:".into(),
        });
    }
    if rest.contains('\0') {
        return Err(Error::InvalidUrl {
            url: url.redacted().escape_default().to_string(),
            reason: "the SQLite path contains a NUL byte".into(),
        });
    }
    Ok(rest.to_owned())
}

/// The session pragmas every connection gets, again after a session
/// reset: wait for locks instead of failing at once, enforce foreign keys.
/// Defaults: the pool's `on_connect` SQL runs after them and may override
/// them.
pub(crate) const SESSION_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

/// Pragmas every connection gets: [`SESSION_PRAGMAS`], and write-ahead
/// logging for files.
///
/// Switching to WAL retries while the database is locked, until `deadline`:
/// this future must not be dropped half-way (diesel-async's SQLite wrapper
/// panics when a blocking call is abandoned on actix's single-threaded
/// runtime), so it bounds its own time instead of being timed out.
pub(super) async fn prepare(
    conn: &mut SqliteAsync,
    path: &str,
    deadline: std::time::Instant,
) -> Result<()> {
    conn.batch_execute(SESSION_PRAGMAS).await?;
    if path.starts_with("file:") {
        return Ok(());
    }
    // Switching to WAL needs a moment with no other connection busy; when
    // several connections of a new pool open at once, SQLite answers "locked"
    // without waiting. Retry briefly rather than fail the connect.
    loop {
        match conn
            .batch_execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .await
        {
            Ok(()) => return Ok(()),
            Err(e) if std::time::Instant::now() < deadline && e.to_string().contains("locked") => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

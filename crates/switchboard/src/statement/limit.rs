//! A statement's time limit: the pool's statement timeout or what is left
//! of its message's, and cancelling a statement that runs past it.

use std::future::Future;
use std::time::{Duration, Instant};

use switchboard_core::{Error, Phase, Result};

use super::Teller;
use crate::backend::Canceller;

/// How long a cancelled statement may take to give up before its
/// connection is abandoned.
const CANCEL_GRACE: Duration = Duration::from_secs(2);

/// The time a statement may run: the pool's statement timeout, or what is
/// left of the message's, whichever is shorter.
pub(super) fn time_limit(at: &Teller<'_>) -> Option<Duration> {
    let left = at
        .deadline
        .map(|d| d.saturating_duration_since(Instant::now()));
    match (at.shared.config.statement_timeout, left) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Runs a statement for at most `limit`. Past it, the server is asked to
/// cancel it (PostgreSQL cancel request, MySQL `KILL QUERY`) and the
/// statement gets a short grace to stop; the caller gets `Error::Timeout`
/// either way. A statement that does not stop in the grace leaves its
/// connection `poisoned`, to be replaced rather than handed to the next
/// caller.
///
/// SQLite cannot be interrupted (diesel does not expose the interrupt
/// handle, and dropping diesel-async's blocking SQLite future blocks the
/// thread), so there the statement runs to its end, the connection stays
/// clean, and the caller gets `Error::Timeout` when it ends (or, with a
/// message `.timeout()`, on time while the connection finishes).
pub(super) async fn run_limited<T>(
    at: &Teller<'_>,
    limit: Duration,
    canceller: Option<Canceller>,
    statement: impl Future<Output = diesel::QueryResult<T>>,
    poisoned: &mut bool,
) -> Result<T> {
    let timeout = Error::Timeout {
        after: limit,
        phase: Phase::Statement,
    };
    let mut statement = std::pin::pin!(statement);
    if let Ok(result) = tokio::time::timeout(limit, &mut statement).await {
        return result.map_err(|e| at.shared.db_error(&e));
    }
    let Some(canceller) = canceller else {
        let _ = statement.await;
        return Err(timeout);
    };
    let shared = at.shared;
    let cancel = async {
        if let Err(e) = canceller.cancel().await {
            tracing::warn!(
                pool = %shared.pool,
                error = %shared.scrubber.scrub(&e),
                "cancel request failed"
            );
        }
        std::future::pending::<()>().await
    };
    let stopped = tokio::select! {
        _ = cancel => false,
        finished = tokio::time::timeout(CANCEL_GRACE, &mut statement) => finished.is_ok(),
    };
    if !stopped {
        *poisoned = true;
    }
    Err(timeout)
}

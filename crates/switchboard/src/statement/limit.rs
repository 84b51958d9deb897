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

/// A statement's time limit, and the error its passing gives: the same
/// `Timeout` the caller gets, whoever notices first.
pub(super) struct Limit {
    within: Duration,
    timeout: Error,
}

/// The time a statement may run: the pool's statement timeout
/// (`Timeout { phase: Statement }`), or what is left of its message's
/// (`Timeout { after: <the message's timeout>, phase: Request }`, as the
/// caller's own timer says), whichever is shorter.
pub(super) fn time_limit(at: &Teller<'_>) -> Option<Limit> {
    let pool = at.shared.config.statement_timeout.map(|after| Limit {
        within: after,
        timeout: Error::Timeout {
            after,
            phase: Phase::Statement,
        },
    });
    let message = at.deadline.map(|d| Limit {
        within: d.at.saturating_duration_since(Instant::now()),
        timeout: d.error(),
    });
    match (pool, message) {
        (Some(p), Some(m)) => Some(if m.within < p.within { m } else { p }),
        (p, m) => p.or(m),
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
    limit: Limit,
    canceller: Option<Canceller>,
    statement: impl Future<Output = diesel::QueryResult<T>>,
    poisoned: &mut bool,
) -> Result<T> {
    let Limit { within, timeout } = limit;
    let mut statement = std::pin::pin!(statement);
    if let Ok(result) = tokio::time::timeout(within, &mut statement).await {
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

/// Asks the server to cancel what an abandoned connection is running (a
/// closure past its message's deadline), waiting at most the cancel grace
/// for the request to be sent; the connection is dropped after.
pub(crate) async fn cancel_abandoned(shared: &crate::shared::Shared, canceller: Canceller) {
    match tokio::time::timeout(CANCEL_GRACE, canceller.cancel()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(
            pool = %shared.pool,
            error = %e,
            "could not cancel the statement of a closure abandoned at its deadline"
        ),
        Err(_) => tracing::warn!(
            pool = %shared.pool,
            "the cancel of an abandoned closure's statement did not go out within the grace"
        ),
    }
}

//! Asking the pool's guards about a connect or a statement, and publishing
//! what they said: `ShadowDenied`, `Rewritten`, and a denial as `Denied`.

use switchboard_core::guard::{Decision, Denial, Rewrite, Shadowed};
use switchboard_core::{Check, Emitter, Error, Labels, Payload, Result};

use crate::shared::Shared;

/// Asks `shared`'s guards about `check` and publishes what they said on the
/// connection's `emitter`; a denial is also returned as the error. The
/// decision (with its permits) is for the caller to hold while the work
/// runs.
pub(crate) async fn ask(shared: &Shared, emitter: &Emitter, check: Check) -> Result<Decision> {
    let query_id = check.query_id();
    let labels = check.labels.clone();
    let decision = shared
        .guards
        .decide(check, |sql| shared.classifier.classify(sql, shared.dialect))
        .await;
    for Shadowed { guard, reason, .. } in &decision.shadow {
        emitter.emit_as(
            Payload::ShadowDenied {
                query_id,
                guard: guard.to_string(),
                reason: reason.clone(),
            },
            &labels,
        );
    }
    if let Some(query_id) = query_id {
        for Rewrite {
            guard, reason, sql, ..
        } in &decision.rewrites
        {
            emitter.emit_as(
                Payload::Rewritten {
                    query_id,
                    guard: guard.to_string(),
                    reason: reason.clone(),
                    sql: sql.clone(),
                },
                &labels,
            );
        }
    }
    match &decision.denied {
        Some(Denial { guard, reason, .. }) => {
            Err(deny(emitter, &labels, query_id, guard, reason.clone()))
        }
        None => Ok(decision),
    }
}

/// Publishes a guard's denial of a statement (`query_id`, run with
/// `labels`) or connect, and returns the error the caller gets.
pub(crate) fn deny(
    emitter: &Emitter,
    labels: &Labels,
    query_id: Option<u64>,
    guard: &str,
    reason: String,
) -> Error {
    emitter.emit_as(
        Payload::Denied {
            query_id,
            guard: guard.to_owned(),
            reason: reason.clone(),
        },
        labels,
    );
    Error::Denied {
        guard: guard.to_owned(),
        reason,
    }
}

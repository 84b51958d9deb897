//! Helpers for tests and benchmarks of subscribers (the `testing`
//! feature): traffic published as a connection publishes it.

use std::sync::Arc;
use std::time::Duration;

use crate::class::StatementClass;
use crate::emitter::Emitter;
use crate::event::{EventKind, Origin, Params};

/// Publishes one statement as a connection does: its `Executing` (with no
/// parameters), then an `Executed` that took 20 µs and returned one row.
pub fn emit_statement(
    emitter: &Emitter,
    query_id: u64,
    sql: &Arc<str>,
    class: StatementClass,
    origin: Origin,
) {
    emitter.emit(EventKind::Executing {
        query_id,
        sql: sql.clone(),
        params: Params::none(),
        class,
        origin,
    });
    emitter.emit(EventKind::Executed {
        query_id,
        took: Duration::from_micros(20),
        rows: Some(1),
    });
}

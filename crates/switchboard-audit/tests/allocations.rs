//! Recording allocates nothing per event: with the log attached, a
//! statement costs what publishing its events costs (the events
//! themselves), sealed, written and fsynced included.

use std::alloc::System;
use std::sync::Arc;
use std::time::Duration;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchboard_audit::{AuditLog, Durability};
use switchboard_core::testing::emit_statement;
use switchboard_core::{Backend, Bus, Emitter, Labels, Origin, StatementClass};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const STATEMENTS: u64 = 2_000;
const WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_recorded_statement_allocates_only_its_two_events() {
    let dir = std::env::temp_dir().join(format!("sb-audit-allocations-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let per_statement = runtime.block_on(async {
        let log = AuditLog::builder(&dir)
            .durability_all(Durability::batched())
            .open()
            .expect("a log");
        let bus = Bus::new();
        let _audited = log.attach(&bus).expect("attached");
        let emitter = Emitter::new(bus, Arc::from("shop"), Backend::Postgres, 1);
        emitter.set_labels(Labels::new().with("tenant", "acme"));
        let sql: Arc<str> = Arc::from("UPDATE orders SET paid = true WHERE id = $1");
        let run = |from: u64, to: u64| {
            for query_id in from..to {
                emit_statement(
                    &emitter,
                    query_id,
                    &sql,
                    StatementClass::Write,
                    Origin::Execute,
                );
            }
        };
        // Warm: the classifier's cache, the batch buffers, the file.
        run(0, STATEMENTS);
        log.flush(WAIT).await.expect("flushed");
        let region = Region::new(GLOBAL);
        run(STATEMENTS, 2 * STATEMENTS);
        log.flush(WAIT).await.expect("flushed");
        let allocations = region.change().allocations;
        assert_eq!(log.stats().records, 4 * STATEMENTS);
        log.close(WAIT).await.expect("closed");
        allocations as f64 / STATEMENTS as f64
    });
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        per_statement < 2.05,
        "{per_statement} allocations per statement"
    );
}

//! A short soak: statements from 32 callers on a SQLite pool while the
//! lossless subscriber panics every few hundred deliveries. Every event
//! still arrives exactly once. `benches/soak.rs` runs the same workload
//! with a million statements and watches memory.

#[path = "../benches/soak/workload.rs"]
mod workload;

use std::time::Duration;

#[test]
fn lossless_delivery_survives_subscriber_faults() {
    let plan = workload::Plan {
        statements: 12_000,
        callers: 32,
        connections: 8,
        fault_every: 499,
        stall_every: 15_000,
        stall: Duration::from_millis(100),
        sample_every: 10_000,
    };
    let outcome = actix::System::new().block_on(workload::run(&plan));
    eprintln!("{}", outcome.summary(plan.statements));
    assert!(
        outcome.seen.problems.is_empty(),
        "{}",
        outcome.seen.problems.join("\n")
    );
    assert_eq!(outcome.failed_statements, 0);
    assert!(
        outcome.seen.restarts >= 90,
        "{} restarts",
        outcome.seen.restarts
    );
    // 4 events a statement (CheckedOut, Executing, Executed, CheckedIn).
    assert!(outcome.seen.delivered >= 4 * plan.statements);
}

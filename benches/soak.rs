//! Soak: a million statements from 32 callers on a SQLite pool, with faults
//! injected into a lossless subscriber and a lossy one that stalls.
//!
//! Prints resident memory every 100,000 statements, statements per second,
//! and the delivery reconciliation; exits non-zero if any lossless event was
//! lost or delivered twice, or resident memory kept growing.
//!
//! `cargo bench --bench soak` (`SOAK_STATEMENTS=200000` for a shorter run).
//! Not criterion: one long run is the measurement.

#[path = "soak/workload.rs"]
mod workload;

use std::time::Duration;

use workload::{Plan, run};

/// Growth of resident memory from the first sample past warm-up to the end
/// of the statements that still counts as flat.
const FLAT_KIB: u64 = 32 * 1024;

fn main() {
    // `cargo bench` passes `--bench`. `cargo test --all-targets` runs this
    // without it: a short smoke run then. nextest asks for `--list` first:
    // there are no tests to list.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let default = if args.iter().any(|a| a == "--bench") {
        1_000_000
    } else {
        2_000
    };
    let statements = std::env::var("SOAK_STATEMENTS")
        .ok()
        .and_then(|s| s.replace('_', "").parse().ok())
        .unwrap_or(default);
    let plan = Plan {
        statements,
        callers: 32,
        connections: 8,
        // About 400 faults in the full run; a few in the smoke run.
        fault_every: if statements >= 100_000 { 10_007 } else { 97 },
        stall_every: 250_000,
        stall: Duration::from_millis(200),
        sample_every: 100_000,
    };
    println!(
        "soak: {} statements, {} callers, {} SQLite connections; lossless subscriber panics every {} deliveries, lossy one stalls {:?} every {} events",
        plan.statements,
        plan.callers,
        plan.connections,
        plan.fault_every,
        plan.stall,
        plan.stall_every
    );
    let outcome = actix::System::new().block_on(run(&plan));

    println!("\nresident memory (VmRSS):");
    println!("{:>12}  {:>10}", "statements", "RSS MiB");
    for (done, kib) in &outcome.rss {
        println!("{done:>12}  {:>10.1}", *kib as f64 / 1024.0);
    }
    println!("\n{}", outcome.summary(plan.statements));

    let mut problems = outcome.seen.problems;
    // Flat: from the sample at 200,000 statements (past warm-up: pool,
    // caches and queues at their working size) to the last one taken
    // during the statements.
    let during: Vec<u64> = outcome.rss[..outcome.rss.len() - 1]
        .iter()
        .map(|(_, kib)| *kib)
        .collect();
    if let (Some(first), Some(last)) = (during.get(2), during.last())
        && last.saturating_sub(*first) > FLAT_KIB
    {
        problems.push(format!(
            "resident memory grew from {first} KiB to {last} KiB during the run"
        ));
    }
    if outcome.failed_statements > 0 {
        problems.push(format!("{} statements failed", outcome.failed_statements));
    }
    if problems.is_empty() {
        println!("ok: every lossless event delivered exactly once; memory flat");
    } else {
        for p in &problems {
            eprintln!("FAIL: {p}");
        }
        std::process::exit(1);
    }
}

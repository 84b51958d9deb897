//! Judging an allowed statement allocates nothing: the classification comes
//! with the check, reasons are written only for refusals, and the counters
//! of rate and concurrency rules are found, not made, once a label value
//! has been seen.

use std::alloc::System;
use std::sync::Arc;

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchboard_core::guard::{Check, Guard, Statement};
use switchboard_core::{Backend, Labels, Origin};
use switchboard_rules::RuleEngine;
use switchboard_sql::{Dialect, classify};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A policy of every kind of rule; none denies the reads checked here.
const RULES: &str = r#"
name = "policy"

[[rule]]
name = "no-unbounded-writes"
kind = "require_where"

[[rule]]
name = "no-secrets"
kind = "deny_tables"
tables = ["secrets", "vault.keys"]

[[rule]]
name = "no-ddl-in-prod"
kind = "deny_class"
classes = ["ddl"]
when = { env = "prod" }

[[rule]]
name = "no-writes-at-night"
kind = "time_window"
classes = ["write"]
from = "02:00"
to = "02:15"

[[rule]]
name = "max-length"
kind = "max_length"
max_bytes = 65536

[[rule]]
name = "shadow-temp"
kind = "deny_tables"
tables = ["tmp_import"]
shadow = true

[[rule]]
name = "tenant-rate"
kind = "rate_limit"
label = "tenant"
per_second = 1000000.0
burst = 1000000

[[rule]]
name = "user-rate"
kind = "rate_limit"
label = "user"
per_second = 1000000.0
burst = 1000000

[[rule]]
name = "tenant-concurrency"
kind = "max_concurrent"
label = "tenant"
max = 64
"#;

fn check(labels: Labels) -> Check {
    let sql = "SELECT id, name FROM users WHERE id = $1";
    let classified = Arc::new(classify(sql, Dialect::Postgres));
    let statement = Statement::new(1, sql.into(), Origin::Load, classified);
    Check::statement("app".into(), Backend::Postgres, 1, labels, statement)
}

/// Allocations per judged check, once the label values are known.
fn allocations(engine: &RuleEngine, check: &Check) -> f64 {
    const CHECKS: usize = 1_000;
    drop(engine.check(check));
    let region = Region::new(GLOBAL);
    for _ in 0..CHECKS {
        let ruling = engine.check(check);
        assert_eq!(ruling.verdict, switchboard_core::Verdict::Allow);
    }
    region.change().allocations as f64 / CHECKS as f64
}

// One test: the counter is the whole process's, so nothing may run beside
// it (the harness's own threads still allocate now and then: a margin of
// 1%).
#[test]
fn an_allowed_statement_allocates_nothing_but_its_permit() {
    let engine = RuleEngine::from_toml(RULES).expect("rules");
    let unlabelled = allocations(&engine, &check(Labels::new()));
    assert!(unlabelled < 0.01, "{unlabelled} allocations per check");
    // Rate and concurrency rules apply: the permit that counts the
    // statement in flight is all that is made.
    let labels = Labels::new().with("tenant", "acme").with("user", "ann");
    let limited = allocations(&engine, &check(labels));
    assert!(limited < 1.01, "{limited} allocations per check");
}

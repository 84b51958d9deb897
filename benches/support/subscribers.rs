//! The "with subscribers" rows' three subscribers, and temp dirs.

use std::path::PathBuf;
use std::time::Duration;

use switchboard::Bus;
use switchboard::Subscription;
use switchboard_audit::{AuditLog, Durability};
use switchboard_observe::TracingLogger;
use switchboard_rules::RuleEngine;

/// A directory of its own under the system's temp dir, removed at the end.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sb-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Twenty rules, none of which denies the benches' reads: what a real
/// policy file might hold. Eight apply to every statement, the others are
/// skipped by their class or label conditions, as they would be in use.
pub const RULES: &str = r#"
name = "bench-policy"

[[rule]]
name = "no-unbounded-writes"
kind = "require_where"

[[rule]]
name = "no-payroll"
kind = "deny_tables"
tables = ["payroll", "hr.salaries"]

[[rule]]
name = "no-secrets"
kind = "deny_tables"
tables = ["secrets", "vault.keys", "api_tokens"]

[[rule]]
name = "no-audit-tampering"
kind = "deny_tables"
tables = ["audit_log", "audit.events"]
classes = ["write", "ddl"]

[[rule]]
name = "no-role-changes"
kind = "deny_class"
classes = ["role"]

[[rule]]
name = "no-ddl-in-prod"
kind = "deny_class"
classes = ["ddl"]
when = { env = "prod" }

[[rule]]
name = "no-ddl-in-business-hours"
kind = "time_window"
classes = ["ddl"]
days = ["mon", "tue", "wed", "thu", "fri"]
from = "08:00"
to = "18:00"
shadow = true

[[rule]]
name = "no-writes-at-night"
kind = "time_window"
classes = ["write"]
from = "02:00"
to = "02:15"
when = { tenant = "acme" }

[[rule]]
name = "max-length"
kind = "max_length"
max_bytes = 65536

[[rule]]
name = "acme-no-invoices"
kind = "deny_tables"
tables = ["invoices", "billing.invoices"]
when = { tenant = ["acme", "globex"] }

[[rule]]
name = "initech-no-reports"
kind = "deny_tables"
tables = ["tps_reports"]
when = { tenant = "initech" }

[[rule]]
name = "no-misc-in-prod"
kind = "deny_class"
classes = ["misc"]
when = { env = "prod" }

[[rule]]
name = "no-legacy-tables"
kind = "deny_tables"
tables = ["legacy_orders", "legacy_users", "old.customers"]

[[rule]]
name = "no-temp-tables"
kind = "deny_tables"
tables = ["tmp_import"]
shadow = true

[[rule]]
name = "short-writes"
kind = "max_length"
max_bytes = 16384
classes = ["write"]

[[rule]]
name = "no-ddl-weekends"
kind = "time_window"
classes = ["ddl"]
days = ["sat", "sun"]
from = "00:00"
to = "24:00"
shadow = true

[[rule]]
name = "tenant-rate"
kind = "rate_limit"
label = "tenant"
per_second = 100000.0
burst = 100000

[[rule]]
name = "tenant-concurrency"
kind = "max_concurrent"
label = "tenant"
max = 64

[[rule]]
name = "user-rate"
kind = "rate_limit"
label = "user"
per_second = 10000.0

[[rule]]
name = "batch-concurrency"
kind = "max_concurrent"
label = "batch"
max = 4
"#;

/// The three subscribers of the "with subscribers" rows: a `TracingLogger`
/// formatting every line into `io::sink`, a Batched `AuditLog` in a temp
/// dir, and a `RuleEngine` guard with [`RULES`].
pub struct Subscribers {
    _logger: Subscription,
    audit: AuditLog,
    _dir: TempDir,
}

impl Subscribers {
    /// Attaches the logger and the audit log to a new bus, and returns the
    /// bus and the rule engine to build the pool with.
    pub fn new(name: &str) -> (Self, Bus, RuleEngine) {
        let bus = Bus::new();
        let sink = tracing_subscriber::fmt()
            .with_writer(std::io::sink)
            .with_ansi(false)
            .finish();
        let logger = TracingLogger::new()
            .dispatch(sink)
            .attach(&bus)
            .expect("a logger");
        let dir = TempDir::new(name);
        let audit = AuditLog::builder(&dir.0)
            .durability_all(Durability::batched())
            .rotate_at_size(64 << 20)
            .open()
            .expect("an audit log");
        let _audited = audit.attach(&bus).expect("audit attached");
        let rules = RuleEngine::from_toml(RULES).expect("the bench rules");
        assert_eq!(rules.rules_len(), 20);
        let subscribers = Subscribers {
            _logger: logger,
            audit,
            _dir: dir,
        };
        (subscribers, bus, rules)
    }

    /// Flushes and closes the audit log (call after the pool's shutdown).
    pub async fn close(self) {
        let stats = self.audit.stats();
        eprintln!(
            "  audit: {} records, {} fsyncs, {} bytes",
            stats.records, stats.fsyncs, stats.bytes
        );
        self.audit
            .close(Duration::from_secs(60))
            .await
            .expect("audit closed");
    }
}

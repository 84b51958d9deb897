//! The console example's workload, also run by the browser test
//! (`integration/console.rs` includes this file): two SQLite pools under
//! mixed traffic, guarded by a rules engine that denies some of it, with a
//! lease held past the leak threshold now and then.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use switchboard::{DbConnection, Execute, Switchboard, Transaction};
use switchboard_audit::{AuditLog, SecretKey};
use switchboard_rules::RuleEngine;

/// The rules: two enforced (an unbounded write; payroll for tenant acme)
/// and one in shadow mode (DDL).
pub const RULES: &str = r#"
name = "policy"

[[rule]]
name = "no-unbounded-writes"
kind = "require_where"

[[rule]]
name = "acme-no-payroll"
kind = "deny_tables"
tables = ["payroll"]
when = { tenant = "acme" }

[[rule]]
name = "ddl-watch"
kind = "deny_class"
classes = ["ddl"]
shadow = true
"#;

/// The two pools and the guard they share.
pub struct Shop {
    pub shop: Switchboard,
    pub billing: Switchboard,
    pub rules: RuleEngine,
}

const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

impl Shop {
    /// Writes the rules to `dir/rules.toml`, starts both pools on SQLite
    /// files in `dir` (WAL: connections wait for each other's writes
    /// rather than fail) and creates their tables.
    pub async fn start(dir: &Path) -> Result<Shop, Box<dyn std::error::Error>> {
        let rules_file = dir.join("rules.toml");
        std::fs::write(&rules_file, RULES)?;
        let rules = RuleEngine::from_file(&rules_file)?;
        let shop = Switchboard::builder(format!("sqlite://{}", dir.join("shop.db").display()))
            .name("shop")
            .pool_size(2..=4)
            .leak_detection(Duration::from_millis(400))
            .guard(rules.clone())
            .start()
            .await?;
        let billing =
            Switchboard::builder(format!("sqlite://{}", dir.join("billing.db").display()))
                .name("billing")
                .pool_size(1..=2)
                .guard(rules.clone())
                .start()
                .await?;
        shop.run(Execute::sql(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, total INTEGER NOT NULL)",
        ))
        .await?;
        billing
            .run(Execute::sql(
                "CREATE TABLE IF NOT EXISTS invoices (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, amount INTEGER NOT NULL)",
            ))
            .await?;
        Ok(Shop {
            shop,
            billing,
            rules,
        })
    }

    /// An audit log of both pools in `dir/audit`, signing its checkpoints
    /// with a key made for this run.
    pub fn audit(&self, dir: &Path) -> Result<AuditLog, Box<dyn std::error::Error>> {
        let log = AuditLog::builder(dir.join("audit"))
            .name("orders")
            .sign_checkpoints(SecretKey::generate()?)
            .open()?;
        // The log keeps its subscriptions until it closes: the handles
        // attach returns may go.
        let _ = log.attach(self.shop.bus())?;
        let _ = log.attach(self.billing.bus())?;
        Ok(log)
    }

    /// One round of worker `worker`'s traffic. Failures and denials are
    /// part of it (the console shows them), so outcomes are not checked.
    pub async fn round(&self, worker: u64, round: u64) {
        let tenant = TENANTS[((worker + round) % 3) as usize];
        let request = format!("req-{worker}-{round}");
        let sb = &self.shop;
        let _ = sb
            .run(
                Execute::sql("INSERT INTO orders (tenant, total) VALUES (?, ?)")
                    .bind::<Text, _>(tenant)
                    .bind::<Integer, _>((round % 90) as i32 + 10)
                    .label("tenant", tenant)
                    .label("request_id", request.clone()),
            )
            .await;
        let _ = sb
            .run(
                Execute::sql("SELECT count(*) FROM orders WHERE tenant = ?")
                    .bind::<Text, _>(tenant)
                    .label("tenant", tenant),
            )
            .await;
        let _ = sb
            .run(Transaction::new(async move |conn: &mut DbConnection| {
                conn.execute(
                    Execute::sql("UPDATE orders SET total = total + 1 WHERE id = ?")
                        .bind::<Integer, _>((round % 50) as i32 + 1),
                )
                .await
            }))
            .await;
        let _ = self
            .billing
            .run(
                Execute::sql("INSERT INTO invoices (tenant, amount) VALUES (?, ?)")
                    .bind::<Text, _>(tenant)
                    .bind::<Integer, _>(round as i32)
                    .label("tenant", tenant),
            )
            .await;
        match (round + worker) % 12 {
            // Denied: a DELETE without WHERE.
            3 => {
                let _ = sb
                    .run(Execute::sql("DELETE FROM orders").label("tenant", tenant))
                    .await;
            }
            // Denied for acme only: payroll.
            5 => {
                let _ = sb
                    .run(Execute::sql("SELECT * FROM payroll").label("tenant", "acme"))
                    .await;
            }
            // A failure in the database.
            7 => {
                let _ = self
                    .billing
                    .run(Execute::sql("SELECT * FROM no_such_table"))
                    .await;
            }
            // A slow statement.
            9 => {
                let _ = sb
                    .run(Execute::sql(
                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) \
                         SELECT count(*) FROM c",
                    ).label("report", "daily"))
                    .await;
            }
            // Shadow-denied DDL: reported, and run.
            11 => {
                let _ = sb
                    .run(Execute::sql(
                        "CREATE TABLE IF NOT EXISTS audit_notes (note TEXT)",
                    ))
                    .await;
            }
            _ => {}
        }
        // Now and then a lease held past the leak threshold (400 ms).
        if worker == 0
            && round % 20 == 4
            && let Ok(lease) = sb
                .run_checkout(switchboard::Checkout::new().label("job", "nightly-export"))
                .await
        {
            actix_rt::time::sleep(Duration::from_millis(600)).await;
            drop(lease);
        }
    }

    /// Runs `workers` tasks of rounds, `pause` apart, until `until`.
    pub async fn run(&self, workers: u64, pause: Duration, until: std::time::Instant) {
        let tasks = (0..workers).map(|worker| async move {
            let mut round = 0;
            while std::time::Instant::now() < until {
                self.round(worker, round).await;
                round += 1;
                actix_rt::time::sleep(pause).await;
            }
        });
        futures_util::future::join_all(tasks).await;
    }
}

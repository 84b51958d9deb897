//! Audit trail: a tamper-evident, durable log of every statement.
//!
//! Runs statements on SQLite (DDL is made durable before it runs: Strict;
//! the rest in group commits: Batched), prints the log, verifies it, then
//! flips one byte in a copy and shows verify catching the edit.
//!
//! Run it with `cargo run --example audit_trail` (no setup).

use std::time::Duration;

use switchboard::{Bus, Check, Execute, Guard, Ruling, Switchboard};
use switchboard_audit::{AuditLog, verify};

/// Denies statements on `secrets`, so the log shows a denial too.
struct NoSecrets;

impl Guard for NoSecrets {
    fn name(&self) -> &str {
        "no-secrets"
    }
    fn check(&self, check: &Check) -> Ruling {
        match check.as_statement().map(|s| &*s.classified) {
            Some(Ok(c)) if c.tables.iter().any(|t| t == "secrets") => {
                Ruling::deny("the secrets table is off limits")
            }
            _ => Ruling::allow(),
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    actix::System::new().block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("switchboard-audit-trail-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let audit = AuditLog::builder(dir.join("log")).open()?;
    let bus = Bus::new();
    // The log keeps its subscription until it is closed.
    let _audited = audit.attach(&bus)?;

    let sb = Switchboard::builder("sqlite::memory:")
        .name("audit_trail")
        .bus(bus)
        .guard(NoSecrets)
        .start()
        .await?;
    sb.run(Execute::sql(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)",
    ))
    .await?;
    sb.run(
        Execute::sql("INSERT INTO orders (item) VALUES ($1)")
            .bind::<diesel::sql_types::Text, _>("a very private value")
            .label("user", "ada")
            .label("tenant", "acme"),
    )
    .await?;
    let failed = sb.run(Execute::sql("INSERT INTO nowhere VALUES (1)")).await;
    let denied = sb.run(Execute::sql("SELECT * FROM secrets")).await;
    println!("failed as expected: {}", failed.is_err());
    println!("denied as expected: {}", denied.is_err());
    sb.shutdown().await?;

    let files = audit.files()?;
    audit.close(Duration::from_secs(5)).await?;

    println!(
        "\n> the log ({} file(s)); parameters are redacted, each record chains to the one before",
        files.len()
    );
    for file in &files {
        for line in std::fs::read_to_string(file)?.lines() {
            println!("  {line}");
        }
    }

    println!("\n> switchboard audit verify");
    println!("  {}", verify(&files)?);

    println!("\n> flip one byte of a copy, verify again");
    let tampered_dir = dir.join("tampered");
    std::fs::create_dir_all(&tampered_dir)?;
    let mut copies = Vec::new();
    for file in &files {
        let copy = tampered_dir.join(file.file_name().ok_or("a file without a name")?);
        std::fs::copy(file, &copy)?;
        copies.push(copy);
    }
    let mut bytes = std::fs::read(&copies[0])?;
    let at = find(&bytes, b"\"rows\":1").ok_or("no executed insert in the log")? + 7;
    bytes[at] = b'9';
    std::fs::write(&copies[0], &bytes)?;
    match verify(&copies) {
        Ok(report) => println!("  not caught?! {report}"),
        Err(broken) => println!("  caught: {broken}"),
    }

    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

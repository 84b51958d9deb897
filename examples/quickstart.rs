//! Quickstart: a pool on SQLite (no server, no setup), an actor printing
//! every lifecycle event, statements, a typed load, a rule denying a
//! statement before it reaches the database, a transaction that commits,
//! one whose DELETE the same rule denies (so it rolls back whole), a lease
//! abandoned with its transaction open (rolled back before the next
//! caller), a graceful shutdown, and the audit trail every statement left
//! behind, verified against its signed checkpoints.
//!
//! Run it with `cargo run --example quickstart`.

use actix::{Actor, Context, Handler};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use std::time::Duration;

use switchboard::{
    Bus, DbConnection, Delivery, Error, Event, Execute, Filter, Load, Switchboard, Transaction,
};
use switchboard_audit::{AuditLog, SecretKey, VerifyOptions};
use switchboard_rules::RuleEngine;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        active -> Bool,
    }
}

#[derive(Debug, Queryable)]
#[allow(dead_code)]
struct User {
    id: i32,
    name: String,
    active: bool,
}

/// A subscriber: prints every event it receives as one line.
struct Printer;

impl Actor for Printer {
    type Context = Context<Self>;
}

impl Handler<Event> for Printer {
    type Result = ();
    fn handle(&mut self, event: Event, _: &mut Self::Context) {
        println!("  event {event}");
    }
}

/// The rules the pool's guard enforces (see `examples/business_rules.rs`).
const RULES: &str = r#"
[[rule]]
name = "no-unbounded-delete"
kind = "require_where"
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    actix::System::new().block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // A tamper-evident audit trail (hash-chained JSON Lines) in a temp dir,
    // with checkpoints signed by a key of its own (`switchboard audit
    // keygen` writes one to a file) that verification checks.
    let audit_dir =
        std::env::temp_dir().join(format!("switchboard-quickstart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&audit_dir);
    let key = SecretKey::generate()?;
    let public = key.public();
    let audit = AuditLog::builder(&audit_dir).sign_checkpoints(key).open()?;
    let bus = Bus::new();
    // The log keeps its subscription until it is closed.
    let _audited = audit.attach(&bus)?;

    let manager = Switchboard::builder("sqlite::memory:")
        .name("quickstart")
        .bus(bus)
        .pool_size(1..=2)
        // Lossless: the printer sees every event, and shutdown waits for it.
        .subscribe_actor("printer", Printer, Filter::all(), Delivery::lossless(1024))
        // A guard: rules checked before every statement, able to veto.
        .guard(RuleEngine::from_toml(RULES)?)
        .start()
        .await?;

    println!("> create table");
    manager
        .send(Execute::sql(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, active BOOLEAN NOT NULL)",
        ))
        .await??;

    println!("> insert two users (bind values are redacted in events)");
    for (name, active) in [("ada", true), ("grace", false)] {
        manager
            .send(
                Execute::sql("INSERT INTO users (name, active) VALUES ($1, $2)")
                    .bind::<Text, _>(name)
                    .bind::<Bool, _>(active)
                    .label("request_id", format!("req-{name}")),
            )
            .await??;
    }

    println!("> load active users with a typed diesel query");
    let active: Vec<User> = manager
        .send(Load::new(users::table.filter(users::active.eq(true))))
        .await??;
    println!("  loaded {active:?}");

    println!("> a DELETE without WHERE: the rule denies it, the database never sees it");
    match manager.send(Execute::sql("DELETE FROM users")).await? {
        Err(Error::Denied { guard, reason }) => println!("  denied by {guard}: {reason}"),
        other => println!("  unexpected: {other:?}"),
    }

    println!("> a transaction that commits");
    manager
        .send(Transaction::new(async |conn: &mut DbConnection| {
            conn.execute(Execute::sql(
                "INSERT INTO users (name, active) VALUES ('linus', 1)",
            ))
            .await?;
            conn.execute(Execute::sql(
                "UPDATE users SET active = 1 WHERE name = 'grace'",
            ))
            .await
        }))
        .await??;

    println!(
        "> a transaction whose DELETE the rule denies: guarded inside it too, so it rolls back whole"
    );
    let outcome = manager
        .send(Transaction::new(async |conn: &mut DbConnection| {
            conn.execute(Execute::sql(
                "INSERT INTO users (name, active) VALUES ('mallory', 1)",
            ))
            .await?;
            conn.execute(Execute::sql("DELETE FROM users")).await?;
            Ok(())
        }))
        .await?;
    match &outcome {
        Err(Error::Denied { guard, reason }) => {
            println!("  denied by {guard}: {reason}; the transaction rolled back")
        }
        other => println!("  unexpected: {other:?}"),
    }

    let all: Vec<User> = manager.send(Load::new(users::table)).await??;
    println!(
        "  {} users after the rollback (expected 3: no DELETE ran, mallory's INSERT undone)",
        all.len()
    );

    println!("> a lease dropped with its transaction open: rolled back before the next caller");
    let lease = manager.checkout().await?;
    lease.send(Execute::sql("BEGIN")).await?;
    lease
        .send(Execute::sql(
            "INSERT INTO users (name, active) VALUES ('abandoned', 1)",
        ))
        .await?;
    drop(lease);
    let all: Vec<User> = manager.send(Load::new(users::table)).await??;
    println!(
        "  {} users after the abandoned insert (expected 3)",
        all.len()
    );

    println!("> shutdown");
    manager.shutdown().await?;

    println!("> the audit trail");
    let files = audit.files()?;
    audit.close(Duration::from_secs(5)).await?;
    let first = files.first().ok_or("the audit log wrote no file")?;
    if let Some(line) = std::fs::read_to_string(first)?.lines().nth(3) {
        println!("  a record: {line}");
    }
    println!(
        "  switchboard audit verify --key: {}",
        switchboard_audit::verify_with(&files, VerifyOptions::default().key(public))?
    );
    std::fs::remove_dir_all(&audit_dir)?;
    println!("done: every connection closed, every event delivered and audited");
    Ok(())
}

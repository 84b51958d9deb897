//! Business rules: a RuleEngine guard declared in TOML vetoes statements
//! before they reach the database.
//!
//! - a DELETE without WHERE is denied;
//! - a tenant is blocked from one table, other tenants are not;
//! - read-only mode is switched on and off at runtime, by message;
//! - a new rule (no DDL during business hours) runs in shadow mode first:
//!   it reports what it would deny, and denies nothing;
//! - the rules are reloaded, and a broken file is refused with its line.
//!
//! Run it with `cargo run --example business_rules` (SQLite, no setup).

use actix::Actor;
use switchboard::{Bus, Error, Event, Execute, Kind, Switchboard};
use switchboard_rules::{RuleEngine, SetReadOnly};

const RULES: &str = r#"
name = "policy"

[[rule]]
name = "no-unbounded-writes"
kind = "require_where"

[[rule]]
name = "acme-no-payroll"
kind = "deny_tables"
tables = ["payroll"]
when = { tenant = "acme" }

# Trying this one on real traffic before enforcing it.
[[rule]]
name = "no-ddl-in-business-hours"
kind = "time_window"
classes = ["ddl"]
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
from = "00:00"
to = "24:00"
shadow = true
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    actix::System::new().block_on(run())
}

/// Prints the outcome of one statement.
fn show(what: &str, outcome: Result<usize, Error>) {
    match outcome {
        Ok(rows) => println!("  ok    {what} ({rows} rows)"),
        Err(Error::Denied { guard, reason }) => {
            println!("  DENIED {what}\n         by {guard}: {reason}")
        }
        Err(other) => println!("  error {what}: {other}"),
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let engine = RuleEngine::from_toml(RULES)?;
    // The engine is also an actor: rules reload and read-only mode switch by
    // message, while the pool keeps the same guard.
    let control = engine.clone().start();

    // Every veto and every shadow report, as it happens.
    let bus = Bus::new();
    bus.listen(Kind::ShadowDenied, |e: Event| println!("  event {e}"))?;

    let manager = Switchboard::builder("sqlite::memory:")
        .name("business_rules")
        .bus(bus)
        .guard(engine.clone())
        .start()
        .await?;

    println!("> setting up (the shadowed DDL rule reports, and lets it run)");
    show(
        "CREATE TABLE payroll",
        manager
            .run(Execute::sql(
                "CREATE TABLE payroll (id INTEGER PRIMARY KEY, who TEXT NOT NULL, amount INTEGER NOT NULL)",
            ))
            .await,
    );
    show(
        "INSERT INTO payroll",
        manager
            .run(Execute::sql(
                "INSERT INTO payroll (who, amount) VALUES ('ada', 100), ('grace', 120)",
            ))
            .await,
    );

    println!("> a DELETE without WHERE");
    show(
        "DELETE FROM payroll",
        manager.run(Execute::sql("DELETE FROM payroll")).await,
    );
    show(
        "DELETE FROM payroll WHERE id = 1",
        manager
            .run(Execute::sql("DELETE FROM payroll WHERE id = 1"))
            .await,
    );

    println!("> tenants");
    for tenant in ["acme", "initech"] {
        show(
            &format!("SELECT FROM payroll as tenant={tenant}"),
            manager
                .run(Execute::sql("SELECT amount FROM payroll").label("tenant", tenant))
                .await,
        );
    }

    println!("> read-only mode, switched on by message (a maintenance window)");
    control.send(SetReadOnly(true)).await?;
    show(
        "UPDATE payroll",
        manager
            .run(Execute::sql("UPDATE payroll SET amount = 0 WHERE id = 2"))
            .await,
    );
    show(
        "SELECT FROM payroll",
        manager.run(Execute::sql("SELECT * FROM payroll")).await,
    );
    control.send(SetReadOnly(false)).await?;
    show(
        "UPDATE payroll (read-only off)",
        manager
            .run(Execute::sql("UPDATE payroll SET amount = 130 WHERE id = 2"))
            .await,
    );

    println!("> reloading the rules");
    let broken = "[[rule]]\nkind = \"deny_class\"\nclases = [\"ddl\"]\n";
    match engine.reload_toml(broken) {
        Ok(()) => println!("  unexpected: a broken file was accepted"),
        Err(e) => println!(
            "  refused, old rules stay in force:\n    {}",
            e.to_string().replace('\n', "\n    ")
        ),
    }
    let stricter = RULES.replace("shadow = true", "shadow = false");
    engine.reload_toml(&stricter)?;
    println!("  reloaded: the DDL rule is enforced now");
    show(
        "CREATE INDEX",
        manager
            .run(Execute::sql("CREATE INDEX payroll_who ON payroll (who)"))
            .await,
    );

    manager.shutdown().await?;
    println!("done");
    Ok(())
}

//! A fleet: two service processes, each with its own manager and a
//! `NatsExporter`, and one central auditor process whose `NatsSource`
//! feeds an `AuditLog`: one verifiable audit file for both services.
//!
//! Needs NATS with JetStream at `SWITCHBOARD_NATS_URL` (default
//! `nats://127.0.0.1:4222`; `nats-server -js`). Run it with
//! `cargo run --example nats_fleet`: it starts itself three times, as
//! `central <audit dir>`, `service orders` and `service billing`, and uses a
//! stream of its own (`FLEET_DEMO`, subjects `fleetdemo.>`), emptied first.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use switchboard::{Bus, Delivery, Execute, Filter, Flow, Switchboard};
use switchboard_audit::AuditLog;
use switchboard_nats::{NatsExporter, NatsSource, StreamSettings};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

const PREFIX: &str = "fleetdemo";

fn url() -> String {
    std::env::var("SWITCHBOARD_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

fn stream() -> StreamSettings {
    StreamSettings::new("FLEET_DEMO", [format!("{PREFIX}.>")])
}

fn main() -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let system = actix::System::new();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => system.block_on(fleet()),
        ["central", dir] => system.block_on(central(dir)),
        ["service", name] => system.block_on(service(name)),
        _ => Err("usage: nats_fleet [central <dir> | service <name>]".into()),
    }
}

/// Starts the central auditor, then both services, then tells the auditor
/// how many events to expect.
async fn fleet() -> Result {
    let client = async_nats::connect(url()).await?;
    let _ = async_nats::jetstream::new(client)
        .delete_stream("FLEET_DEMO")
        .await;
    let dir = std::env::temp_dir().join(format!("switchboard-fleet-{}", std::process::id()));
    let me = std::env::current_exe()?;

    let mut central = Command::new(&me)
        .args(["central", &dir.display().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(central.stdout.take().ok_or("no stdout")?).lines();
    let ready = out.next().ok_or("the auditor exited")??;
    println!("central: {ready}");

    let services: Vec<_> = ["orders", "billing"]
        .into_iter()
        .map(|name| {
            Command::new(&me)
                .args(["service", name])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<std::io::Result<_>>()?;
    let mut total = 0u64;
    for service in services {
        let output = service.wait_with_output()?;
        let line = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        println!("{line}");
        total += line
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or("no count")?;
    }
    writeln!(central.stdin.take().ok_or("no stdin")?, "{total}")?;
    for line in out {
        println!("central: {}", line?);
    }
    let status = central.wait()?;
    println!(
        "audit trail: {} (verify: cargo run -p switchboard-cli -- audit verify {})",
        dir.display(),
        dir.display()
    );
    if status.success() {
        Ok(())
    } else {
        Err("the auditor failed".into())
    }
}

/// One service: its own manager and bus, everything exported.
async fn service(name: &str) -> Result {
    let bus = Bus::new();
    let exporter = NatsExporter::builder(url(), name)
        .subject_prefix(PREFIX)
        .stream(stream())
        .start()
        .await?;
    let _exported = exporter.attach(&bus)?;
    let sb = Switchboard::builder("sqlite::memory:")
        .name("app")
        .bus(bus)
        .start()
        .await?;
    sb.run(Execute::sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, tenant TEXT)",
    ))
    .await?;
    for i in 0..100 {
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        sb.run(
            Execute::sql(format!(
                "INSERT INTO items (id, tenant) VALUES ({i}, '{tenant}')"
            ))
            .label("tenant", tenant),
        )
        .await?;
    }
    let _ = sb.run(Execute::sql("INSERT INTO nowhere VALUES (1)")).await;
    sb.shutdown().await?;
    exporter.flush(Duration::from_secs(30)).await?;
    let stats = exporter.stats();
    exporter.close(Duration::from_secs(5)).await?;
    println!("service {name}: exported and acknowledged {}", stats.acked);
    Ok(())
}

/// The auditor: the stream into a local bus, an audit log on it.
async fn central(dir: &str) -> Result {
    let bus = Bus::new();
    let audit = Arc::new(AuditLog::builder(dir).open()?);
    let _audited = audit.attach(&bus)?;
    let seen = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let counts = seen.clone();
    bus.subscribe_fn(
        "counter",
        Filter::all(),
        Delivery::lossless(1024),
        move |event| {
            let service = event.meta().labels.get("service").unwrap_or("?").to_owned();
            *counts
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(service)
                .or_default() += 1;
            Flow::Continue
        },
    )?;
    let log = audit.clone();
    let source = NatsSource::builder(url())
        .stream(stream())
        .durable("fleet-auditor")
        .confirm(move || {
            let log = log.clone();
            async move { log.flush(Duration::from_secs(5)).await }
        })
        .start(&bus)
        .await?;
    println!("consuming FLEET_DEMO as durable fleet-auditor, auditing into {dir}");

    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let expected: u64 = line.trim().parse()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while source.stats().delivered < expected {
        if Instant::now() > deadline {
            return Err(
                format!("{} of {expected} events arrived", source.stats().delivered).into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    source.close(Duration::from_secs(5)).await?;
    println!(
        "events per service: {:?}",
        seen.lock().unwrap_or_else(|e| e.into_inner())
    );
    let report = audit.verify()?;
    println!("audit log: {report}");
    Arc::into_inner(audit)
        .ok_or("audit log still shared")?
        .close(Duration::from_secs(5))
        .await?;
    Ok(())
}

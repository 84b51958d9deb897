//! The operations console: two SQLite pools under a mixed workload (with a
//! rule denying some statements, a shadow rule, failures, slow statements
//! and a leak), watched by one console, with a signed audit log of both.
//!
//! Run it with `cargo run --example console` and open the URL it prints.
//! `CONSOLE_ADDR` (default `127.0.0.1:9100`) and `RUN_FOR` (seconds,
//! default 600) change where it listens and how long it runs. Actions are
//! on, with a token made for this run and printed with the URL (in its
//! fragment, which the browser never sends to the server).

#[path = "workload.rs"]
mod workload;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use switchboard_console::Console;
use tracing_subscriber::filter::LevelFilter;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_max_level(LevelFilter::WARN)
        .init();
    actix::System::new().block_on(run())
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("switchboard-console-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let shop = workload::Shop::start(&dir).await?;
    let audit = shop.audit(&dir)?;

    // A token for this run only: good enough for a demo on 127.0.0.1.
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let token = format!("demo-{nanos:x}-{:x}", std::process::id());
    let console = Console::builder()
        .listen(env_or("CONSOLE_ADDR", "127.0.0.1:9100"))
        .watch(&shop.shop)
        .watch(&shop.billing)
        .rules_file(&shop.rules, dir.join("rules.toml"))
        .audit(&audit)
        .actions(token.clone())
        .start()?;
    println!("console: {}", console.url());
    println!(
        "with actions (read-only switch, rules reload): {}#token={token}",
        console.url()
    );
    println!("API:     curl {}api/pools", console.url());
    println!("metrics: curl {}metrics", console.url());

    let run_for = Duration::from_secs(env_or("RUN_FOR", "600").parse().unwrap_or(600));
    shop.run(3, Duration::from_millis(150), Instant::now() + run_for)
        .await;

    console.stop().await;
    audit.close(Duration::from_secs(5)).await?;
    shop.shop.shutdown().await?;
    shop.billing.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

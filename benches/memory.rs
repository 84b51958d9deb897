//! Resident memory per idle connection actor, beyond the driver's own
//! connection.
//!
//! Two child processes of this program each open 1,000 in-memory SQLite
//! connections: one as raw `SyncConnectionWrapper<SqliteConnection>`s, one
//! as `Switchboard::builder("sqlite::memory:").pool_size(1000..=1000)`.
//! Both open them all at once (so both spread the work over the same
//! blocking threads), then wait for those threads to retire, and read
//! `VmRSS` from `/proc/self/status` before and after. The difference of
//! the two per-connection figures is what an actor (its mailbox, emitter,
//! instrumentation, manager bookkeeping) costs.
//!
//! `cargo bench --bench memory` (a plain program: it prints a table).

use std::process::Command;
use std::time::Duration;

use diesel::SqliteConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use futures_util::future::join_all;
use switchboard::Switchboard;

const CONNECTIONS: usize = 1000;
const MODE: &str = "SB_BENCH_MEMORY_MODE";
/// tokio retires idle blocking threads after 10 s.
const THREADS_RETIRE: Duration = Duration::from_secs(11);

/// `VmRSS` and `Threads` of this process.
fn status() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:") * 1024, field("Threads:"))
}

async fn raw(target: &str) -> SyncConnectionWrapper<SqliteConnection> {
    let mut conn = SyncConnectionWrapper::<SqliteConnection>::establish(target)
        .await
        .expect("a raw SQLite connection");
    conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;")
        .await
        .expect("pragmas");
    conn
}

/// One measurement, in this process: prints `before after threads`.
fn child(mode: &str) {
    let system = actix::System::new();
    system.block_on(async {
        // Both modes start from one open raw connection, so the SQLite
        // library, the blocking pool and the runtime are warm.
        let target = format!(
            "file:sb-bench-memory-{}?mode=memory&cache=shared",
            std::process::id()
        );
        let keeper = raw(&target).await;
        tokio::time::sleep(THREADS_RETIRE).await;
        let (before, _) = status();
        let (after, threads, open) = match mode {
            "raw" => {
                let conns = join_all((0..CONNECTIONS).map(|_| raw(&target))).await;
                tokio::time::sleep(THREADS_RETIRE).await;
                let (after, threads) = status();
                let open = conns.len();
                drop(conns);
                (after, threads, open)
            }
            _ => {
                let sb = Switchboard::builder("sqlite::memory:")
                    .name("memory")
                    .pool_size(CONNECTIONS..=CONNECTIONS)
                    .start()
                    .await
                    .expect("a pool of 1000");
                tokio::time::sleep(THREADS_RETIRE).await;
                let (after, threads) = status();
                let open = sb.stats().open;
                sb.shutdown().await.expect("shut down");
                (after, threads, open)
            }
        };
        assert_eq!(open, CONNECTIONS, "every connection open");
        drop(keeper);
        println!("{before} {after} {threads}");
    });
}

fn measure(mode: &str) -> (u64, u64, u64) {
    let exe = std::env::current_exe().expect("this program");
    let out = Command::new(exe)
        .env(MODE, mode)
        .output()
        .expect("a child process");
    assert!(
        out.status.success(),
        "{mode} child failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let nums: Vec<u64> = text
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    match nums[..] {
        [before, after, threads] => (before, after, threads),
        _ => panic!("unexpected child output: {text}"),
    }
}

fn main() {
    if let Ok(mode) = std::env::var(MODE) {
        child(&mode);
        return;
    }
    // Only under `cargo bench` (which passes `--bench`): test runners start
    // bench targets too, to list (`--list`) or smoke-run them, and this
    // takes a minute.
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("memory: a benchmark; run it with `cargo bench --bench memory`");
        return;
    }
    eprintln!("memory: two children, ~25 s each (waiting for blocking threads to retire)");
    let (raw_before, raw_after, raw_threads) = measure("raw");
    let (sb_before, sb_after, sb_threads) = measure("switchboard");
    let per = |before: u64, after: u64| after.saturating_sub(before) as f64 / CONNECTIONS as f64;
    let raw_per = per(raw_before, raw_after);
    let sb_per = per(sb_before, sb_after);
    println!();
    println!("## memory summary ({CONNECTIONS} idle in-memory SQLite connections)");
    println!();
    println!("| mode | VmRSS before | VmRSS after | threads after | per connection |");
    println!("|---|---|---|---|---|");
    for (mode, before, after, threads, each) in [
        ("raw", raw_before, raw_after, raw_threads, raw_per),
        ("switchboard", sb_before, sb_after, sb_threads, sb_per),
    ] {
        println!(
            "| {mode} | {:.1} MiB | {:.1} MiB | {threads} | {:.1} KiB |",
            before as f64 / 1048576.0,
            after as f64 / 1048576.0,
            each / 1024.0
        );
    }
    println!();
    println!(
        "per idle connection actor beyond the driver's connection: {:.1} KiB (target <= 32 KiB)",
        (sb_per - raw_per) / 1024.0
    );
}

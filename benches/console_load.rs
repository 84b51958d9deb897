//! What the operations console costs the statements it watches: the
//! SQLite statements of `sqlite_overhead` (`SELECT 1`, a one-row
//! primary-key read; 1 and 8 client tasks), each run by
//!
//! - `switchboard`: a `sqlite::memory:` pool of as many connections;
//! - `console_10`: the same with a console watching the pool (its feed,
//!   its metrics, defaults otherwise but `max_clients`) and 10 event
//!   stream clients connected, each a thread reading its socket as fast as
//!   it can;
//! - `console_10_nometrics`: the same with `.metrics(false)` (no
//!   switchboard-observe `Metrics` subscriber).
//!
//! The summary reports the throughput the console costs, in percent
//! (target: at most 5).
//!
//! `cargo bench --bench console_load` (add `-- --quick` for a short run).
//!
//! `SB_BENCH_FIXED=<select1|read_pk>/<switchboard|console_10|console_10_nometrics>/<count>[/<clients>]`
//! runs `count` statements on each of `clients` (default 1) clients,
//! without criterion: for callgrind, whose instruction counts (all
//! threads, readers included) at two counts give the console's cost per
//! statement, or for `perf record`.
//!
//! `SB_BENCH_ROUNDS=<n>` sets the rounds of the interleaved comparison
//! (default 15, 5 with `--quick`), `SB_BENCH_ROUND=<n>` the statements of
//! one setup in a round (default 48,000, about half a second; shorter
//! rounds and more of them put a stall of the machine into fewer rounds);
//! `SB_BENCH_STREAM_RATE=<n>` the console's `stream_rate` (default 1000),
//! to see what streaming costs.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use criterion::Throughput;
use support::{Figures, PER_ITER, Stmt, measure, on_system, rate};
use switchboard::{DbConnection, Interact, Switchboard};
use switchboard_console::{Console, ConsoleConfig};

const CONCURRENCY: [usize; 2] = [1, 8];

/// Event stream clients connected in the `console_10` rows.
const CLIENTS: usize = 10;

const SETUP: &str = "CREATE TABLE sb_bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
    WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000)
    INSERT INTO sb_bench_rows (id, name) SELECT x, 'row ' || x FROM g;";

async fn pool(n: usize) -> Switchboard {
    let sb = Switchboard::builder("sqlite::memory:")
        .name("bench")
        .pool_size(n..=n)
        .start()
        .await
        .expect("a switchboard pool");
    sb.run(Interact::new(async |conn: &mut DbConnection| {
        conn.batch_execute(SETUP).await
    }))
    .await
    .expect("the table");
    sb
}

/// Ten browsers' worth of event stream readers, on threads of their own.
struct Readers {
    stop: Arc<AtomicBool>,
    bytes: Arc<AtomicU64>,
    threads: Vec<JoinHandle<()>>,
}

impl Readers {
    fn connect(addr: SocketAddr, n: usize) -> Readers {
        let stop = Arc::new(AtomicBool::new(false));
        let bytes = Arc::new(AtomicU64::new(0));
        let threads = (0..n)
            .map(|_| {
                let (stop, bytes) = (stop.clone(), bytes.clone());
                // Ends when `stop` is set (it reads with a timeout) or the
                // console ends the stream.
                std::thread::spawn(move || {
                    let mut conn = TcpStream::connect(addr).expect("a stream client");
                    conn.write_all(b"GET /api/events HTTP/1.1\r\nHost: bench\r\n\r\n")
                        .expect("a request");
                    conn.set_read_timeout(Some(Duration::from_millis(100)))
                        .expect("a timeout");
                    let mut buf = vec![0u8; 64 * 1024];
                    while !stop.load(Ordering::Relaxed) {
                        match conn.read(&mut buf) {
                            Ok(0) => return,
                            Ok(n) => {
                                bytes.fetch_add(n as u64, Ordering::Relaxed);
                            }
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        Readers {
            stop,
            bytes,
            threads,
        }
    }

    fn close(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Starts a console watching `sb` (with or without its metrics) and
/// connects [`CLIENTS`] stream clients to it.
async fn watched(sb: &Switchboard, metrics: bool) -> (Console, Readers) {
    let console = Console::builder()
        .listen("127.0.0.1:0")
        .watch(sb)
        // The default is 8.
        .max_clients(CLIENTS)
        .stream_rate(stream_rate())
        .metrics(metrics)
        .start()
        .expect("a console");
    let readers = Readers::connect(console.local_addr(), CLIENTS);
    let deadline = Instant::now() + Duration::from_secs(10);
    while console.stats().stream.clients < CLIENTS {
        assert!(Instant::now() < deadline, "the stream clients never joined");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
    (console, readers)
}

/// The console's `stream_rate`: its default, or `SB_BENCH_STREAM_RATE`
/// (to see what streaming costs).
fn stream_rate() -> u32 {
    env_number("SB_BENCH_STREAM_RATE").unwrap_or(ConsoleConfig::default().stream_rate)
}

/// The number in environment variable `name`, if set; a value that is not
/// one stops the bench (rather than measuring the default unasked).
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    match value.parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={value}: expected a whole number"),
    }
}

/// Reports what a console streamed, fails the bench if a client was
/// dropped (the row would not have measured 10 clients), and stops it.
fn finish(system: &actix::SystemRunner, sb: Switchboard, console: Console, readers: Readers) {
    let stats = console.stats();
    let read = readers.close();
    eprintln!(
        "  console: {} entries streamed, {} skipped over the rate, {} clients dropped, {} events missed; readers got {} MB",
        stats.stream.entries,
        stats.stream.skipped,
        stats.stream.dropped_slow,
        stats.missed,
        read / 1_000_000
    );
    assert_eq!(
        stats.stream.dropped_slow, 0,
        "a stream client was dropped: the row would not measure 10 clients"
    );
    system.block_on(async {
        console.stop().await;
        sb.shutdown().await.expect("shut down");
    });
}

/// Measures a pool of `n` watched by a console (with or without its
/// metrics) that has [`CLIENTS`] stream clients connected.
fn with_console(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    system: &actix::SystemRunner,
    stmt: Stmt,
    n: usize,
    variant: &str,
    metrics: bool,
) -> Option<Figures> {
    if !support::selected(stmt, variant, n) {
        return None;
    }
    let sb = system.block_on(pool(n));
    let (console, readers) = system.block_on(watched(&sb, metrics));
    let (clients, figures) = measure(
        group,
        variant,
        stmt,
        vec![sb.clone(); n],
        on_system(system, stmt),
    );
    drop(clients);
    finish(system, sb, console, readers);
    figures
}

/// Statements in one round of the interleaved comparison (about half a
/// second of them).
const ROUND: u64 = 48_000;

/// The interleaved comparison of one statement and concurrency: losses in
/// percent, one per round, of the console rows against the plain pool.
struct Interleaved {
    bench: String,
    with_metrics: Vec<f64>,
    without: Vec<f64>,
}

/// The three setups of a row side by side (a plain pool, one watched by a
/// console with its metrics, one by a console without), each run for
/// [`ROUND`] statements in turn, the order rotating every round. The
/// criterion rows measure each setup seconds apart, and on 2 shared cores
/// the machine drifts by more than the 5% to be shown between them; here
/// each round's loss is taken against the plain pool of the same round,
/// and the median of the rounds is reported.
fn interleaved(system: &actix::SystemRunner, stmt: Stmt, n: usize) -> Option<Interleaved> {
    if !support::selected_path(&format!("{}/{n}/interleaved", stmt.name())) {
        return None;
    }
    let rounds = if support::benching() {
        match env_number("SB_BENCH_ROUNDS") {
            Some(rounds) => rounds,
            None if std::env::args().any(|a| a == "--quick") => 5,
            None => 15,
        }
    } else {
        1
    };
    let plain = system.block_on(pool(n));
    let metered = system.block_on(pool(n));
    let bare = system.block_on(pool(n));
    let (metered_console, metered_readers) = system.block_on(watched(&metered, true));
    let (bare_console, bare_readers) = system.block_on(watched(&bare, false));
    let setups = [&plain, &metered, &bare];
    let round = env_number("SB_BENCH_ROUND").unwrap_or(ROUND);
    let per_client = if support::benching() { round } else { 512 } / n as u64;
    let throughput = |sb: &Switchboard| {
        let round = system.block_on(support::round_local(
            vec![sb.clone(); n],
            stmt,
            per_client,
            false,
        ));
        round.counted as f64 / round.elapsed.as_secs_f64()
    };
    // Warm-up: every setup once, not counted.
    setups.iter().for_each(|sb| {
        throughput(sb);
    });
    let mut result = Interleaved {
        bench: format!("{}/c{n}", stmt.name()),
        with_metrics: Vec::new(),
        without: Vec::new(),
    };
    for r in 0..rounds {
        let mut rates = [0.0; 3];
        for k in 0..3 {
            let i = (r + k) % 3;
            rates[i] = throughput(setups[i]);
        }
        let lost = |x: f64| (1.0 - x / rates[0]) * 100.0;
        result.with_metrics.push(lost(rates[1]));
        result.without.push(lost(rates[2]));
        eprintln!(
            "  {}/interleaved round {r}: plain {} /s, console {} /s ({:.1}% lost), without its metrics {} /s ({:.1}% lost)",
            result.bench,
            rate(rates[0]),
            rate(rates[1]),
            lost(rates[1]),
            rate(rates[2]),
            lost(rates[2])
        );
    }
    finish(system, metered, metered_console, metered_readers);
    finish(system, bare, bare_console, bare_readers);
    system.block_on(plain.shutdown()).expect("shut down");
    Some(result)
}

/// The median of `xs`, and their smallest and largest.
fn spread(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let median = if v.is_empty() {
        f64::NAN
    } else if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    let min = v.first().copied().unwrap_or(f64::NAN);
    let max = v.last().copied().unwrap_or(f64::NAN);
    (median, min, max)
}

/// `SB_BENCH_FIXED`'s run: `count` statements on each of the clients, no
/// criterion.
fn fixed(spec: &str) {
    let parts: Vec<&str> = spec.split('/').collect();
    let (stmt, variant, count, n) = match parts[..] {
        [stmt, variant, count] => (stmt, variant, count, "1"),
        [stmt, variant, count, n] => (stmt, variant, count, n),
        _ => panic!("SB_BENCH_FIXED={spec}: expected <statement>/<variant>/<count>[/<clients>]"),
    };
    let count: u64 = count.parse().expect("a statement count");
    let n: usize = n.parse().expect("a client count");
    let stmt = Stmt::ALL
        .into_iter()
        .find(|s| s.name() == stmt)
        .expect("a statement: select1 or read_pk");
    let system = actix::System::new();
    let sb = system.block_on(pool(n));
    let watched = match variant {
        "switchboard" => None,
        "console_10" => Some(system.block_on(watched(&sb, true))),
        "console_10_nometrics" => Some(system.block_on(watched(&sb, false))),
        _ => panic!("SB_BENCH_FIXED: variant switchboard, console_10 or console_10_nometrics"),
    };
    let round = system.block_on(support::round_local(
        vec![sb.clone(); n],
        stmt,
        count,
        false,
    ));
    eprintln!(
        "{spec}: {} statements/s",
        rate(round.counted as f64 / round.elapsed.as_secs_f64())
    );
    match watched {
        Some((console, readers)) => finish(&system, sb, console, readers),
        None => system.block_on(sb.shutdown()).expect("shut down"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(spec) = std::env::var("SB_BENCH_FIXED") {
        fixed(&spec);
        return;
    }
    let system = actix::System::new();
    let mut c = support::criterion();
    let mut figures: Vec<Figures> = Vec::new();
    for stmt in Stmt::ALL {
        let mut group = c.benchmark_group(format!("console_{}", stmt.name()));
        group.throughput(Throughput::Elements(PER_ITER));
        for n in CONCURRENCY {
            let sb = system.block_on(pool(n));
            let (clients, f) = measure(
                &mut group,
                "switchboard",
                stmt,
                vec![sb.clone(); n],
                on_system(&system, stmt),
            );
            figures.extend(f);
            drop(clients);
            system.block_on(sb.shutdown()).expect("shut down");

            for (variant, metrics) in [("console_10", true), ("console_10_nometrics", false)] {
                figures.extend(with_console(&mut group, &system, stmt, n, variant, metrics));
            }
        }
        group.finish();
    }
    let mut paired = Vec::new();
    for stmt in Stmt::ALL {
        for n in CONCURRENCY {
            paired.extend(interleaved(&system, stmt, n));
        }
    }
    c.final_summary();
    println!();
    println!("## console_load summary (statements/s)");
    println!();
    println!(
        "| statement | conc | switchboard/s | console + {CLIENTS} clients/s | lost | without its metrics/s | lost |"
    );
    println!("|---|---|---|---|---|---|---|");
    let get = |bench, variant| support::find(&figures, bench, variant);
    let benches = support::benches(&figures);
    for bench in benches {
        let (Some(a), Some(b), Some(c)) = (
            get(bench, "switchboard"),
            get(bench, "console_10"),
            get(bench, "console_10_nometrics"),
        ) else {
            continue;
        };
        let lost = |x: &Figures| (1.0 - x.per_second / a.per_second) * 100.0;
        let (stmt, conc) = bench.split_once("/c").unwrap_or((bench, "?"));
        println!(
            "| {stmt} | {conc} | {} | {} | {:.1}% | {} | {:.1}% |",
            rate(a.per_second),
            rate(b.per_second),
            lost(b),
            rate(c.per_second),
            lost(c)
        );
    }
    println!();
    println!(
        "## console_load interleaved (throughput lost, median of the rounds [smallest, largest])"
    );
    println!();
    println!("| statement | conc | rounds | console + {CLIENTS} clients | without its metrics |");
    println!("|---|---|---|---|---|");
    for p in &paired {
        let (m, m_lo, m_hi) = spread(&p.with_metrics);
        let (b, b_lo, b_hi) = spread(&p.without);
        let (stmt, conc) = p.bench.split_once("/c").unwrap_or((&p.bench, "?"));
        println!(
            "| {stmt} | {conc} | {} | {m:.1}% [{m_lo:.1}, {m_hi:.1}] | {b:.1}% [{b_lo:.1}, {b_hi:.1}] |",
            p.with_metrics.len()
        );
    }
}

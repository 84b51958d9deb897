//! Real workloads on PostgreSQL and MariaDB, Switchboard against its
//! peers, in one run (issue 17).
//!
//! Workloads, at concurrency 8 and 32 (one client task per unit):
//! `SELECT 1` and a one-row key read (typed `Load`s), an `INSERT` with two
//! binds (`Execute`), a two-statement `Transaction` (`UPDATE` of a counter,
//! then a read of it), and a mixed one: one task runs a 50 ms statement in
//! a loop while the others run `SELECT 1`, whose latency is reported.
//!
//! Variants, each in the same run:
//! - `deadpool`: deadpool + diesel-async, `RecyclingMethod::Fast`, as many
//!   connections as tasks, on the actix system's thread; `deadpool_mt`: the
//!   same on a 2-worker multi-thread runtime. The peer (b) is the better;
//!   the peer's insert is diesel's typed `insert_into(..).values(..)`
//!   (a prepared statement diesel caches), the rest the same statements;
//! - `switchboard`: a pool of as many connections, no subscribers;
//! - `sb_recipient`: the same with a custom actor subscribed through
//!   `Recipient<Event>`, lossless (`subscribe(name, addr.recipient(), ..)`);
//! - `sb_actor`: the same actor subscribed with `subscribe_actor`;
//! - `tokio_pg` / `tokio_pg_mt` (PostgreSQL reads only): one
//!   tokio-postgres client shared by every task, statements prepared once.
//!
//! `cargo bench --bench workloads` (add `-- --quick` for a short run).
//! `SB_BENCH_FIXED=<pg|maria>/<workload>/<switchboard|sb_actor|sb_failures|deadpool|tokio_pg>/<count>`
//! (`sb_failures`: the actor subscribed to failures and denials only;
//! `tokio_pg`: PostgreSQL `select1` and `read_pk` only)
//! runs `count` operations with one client and exits, for counting
//! instructions under `valgrind --tool=callgrind`, which other processes
//! do not move: the difference between two counts over the difference in
//! operations is the instructions of one operation, setup left out.
//! `SB_BENCH_INTERLEAVE=<rounds>` measures Switchboard (no subscribers)
//! and both deadpool peers in alternating short rounds instead, and prints
//! the median per-round ratios (see `workloads/interleave.rs`). With
//! `SB_BENCH_ARBITER=1` as well, it measures Switchboard against itself
//! started on an arbiter thread of its own (`sb_arbiter`: callers on the
//! system's thread, the manager and connections on the other) and
//! deadpool, and prints that ratio on stderr.
//! `SB_BENCH_ONLY=pg/mixed/8/` (`backend/workload/concurrency/variant`, a
//! substring) measures only matching rows; `SB_BENCH_CONC=1,8` other
//! concurrency levels. URLs from `SWITCHBOARD_PG_URL`
//! and `SWITCHBOARD_MYSQL_URL`; a server that does not answer is skipped
//! (a failure under `SWITCHBOARD_REQUIRE_SERVICES=1`).

mod support;

#[path = "workloads/interleave.rs"]
mod interleave;
#[path = "workloads/ops.rs"]
mod ops;
#[path = "workloads/round.rs"]
mod round;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use criterion::Throughput;
use criterion::measurement::WallTime;
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use ops::{Counter, Db, DeadpoolMysql, DeadpoolPg, Sb, SharedPg};
use round::{Workload, on_runtime, on_system};
use support::{Figures, PER_ITER, measure_as, selected_path};
use switchboard::{Delivery, Filter, Kind};

const CONCURRENCY: [usize; 2] = [8, 32];
const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

/// The tables: the key read's rows and the counters are created once and
/// kept; the insert table is emptied at the start of each run.
const PG_SETUP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS sb_bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "INSERT INTO sb_bench_rows (id, name) SELECT g, 'row ' || g FROM generate_series(1, 1000) g
       ON CONFLICT (id) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS sb_bench_counters (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)",
    "INSERT INTO sb_bench_counters (id, n) SELECT g, 0 FROM generate_series(1, 1000) g
       ON CONFLICT (id) DO NOTHING",
    "CREATE TABLE IF NOT EXISTS sb_bench_inserts (id BIGSERIAL PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)",
    "TRUNCATE sb_bench_inserts",
];

const MYSQL_SETUP: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS sb_bench_rows (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "INSERT IGNORE INTO sb_bench_rows (id, name)
       WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000)
       SELECT x, CONCAT('row ', x) FROM g",
    "CREATE TABLE IF NOT EXISTS sb_bench_counters (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)",
    "INSERT IGNORE INTO sb_bench_counters (id, n)
       WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < 1000)
       SELECT x, 0 FROM g",
    "CREATE TABLE IF NOT EXISTS sb_bench_inserts (id BIGINT AUTO_INCREMENT PRIMARY KEY, k INTEGER NOT NULL, v TEXT NOT NULL)",
    "TRUNCATE TABLE sb_bench_inserts",
];

async fn prepare(db: Db, url: &str) -> Result<(), String> {
    match db {
        Db::Postgres => {
            let mut conn = AsyncPgConnection::establish(url)
                .await
                .map_err(|e| e.to_string())?;
            for sql in PG_SETUP {
                conn.batch_execute(sql).await.map_err(|e| e.to_string())?;
            }
        }
        Db::Mariadb => {
            let mut conn = AsyncMysqlConnection::establish(url)
                .await
                .map_err(|e| e.to_string())?;
            for sql in MYSQL_SETUP {
                conn.batch_execute(sql).await.map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

/// One backend's rows of one workload at one concurrency.
struct Rows<'a, 'c> {
    system: &'a actix::SystemRunner,
    mt: &'a tokio::runtime::Runtime,
    group: &'a mut criterion::BenchmarkGroup<'c, WallTime>,
    db: Db,
    url: &'a str,
    workload: Workload,
    n: usize,
    figures: &'a mut Vec<Figures>,
}

impl Rows<'_, '_> {
    fn bench(&self) -> String {
        format!("{}/{}/c{}", self.db.name(), self.workload.name(), self.n)
    }

    fn selected(&self, variant: &str) -> bool {
        selected_path(&format!(
            "{}/{}/{}/{variant}",
            self.db.name(),
            self.workload.name(),
            self.n
        ))
    }

    fn push(&mut self, f: Option<Figures>) {
        self.figures.extend(f);
    }

    fn deadpool(&mut self) {
        let (bench, n, db, workload) = (self.bench(), self.n, self.db, self.workload);
        if !self.selected("deadpool") {
            return;
        }
        let system = self.system;
        let f = match db {
            Db::Postgres => {
                let pool = DeadpoolPg::new(self.url, n, db);
                system.block_on(pool.warm(n));
                let run = on_system(system, workload);
                measure_as(self.group, &bench, "deadpool", vec![pool; n], run).1
            }
            Db::Mariadb => {
                let pool = DeadpoolMysql::new(self.url, n, db);
                system.block_on(pool.warm(n));
                let run = on_system(system, workload);
                measure_as(self.group, &bench, "deadpool", vec![pool; n], run).1
            }
        };
        self.push(f);
    }

    fn switchboard(&mut self, variant: &str) {
        if !self.selected(variant) {
            return;
        }
        let (bench, n, db, workload) = (self.bench(), self.n, self.db, self.workload);
        let seen = Arc::new(AtomicU64::new(0));
        let sb = self.system.block_on(async {
            let sb = crate::support::bench_pool(self.url, n)
                .start()
                .await
                .expect("a switchboard pool");
            let delivery = Delivery::lossless(1024);
            match variant {
                "sb_recipient" => {
                    use actix::Actor;
                    let addr = Counter(seen.clone()).start();
                    sb.bus()
                        .subscribe("actor", addr.recipient(), Filter::all(), delivery);
                }
                "sb_actor" => {
                    sb.subscribe_actor("actor", Counter(seen.clone()), Filter::all(), delivery);
                }
                _ => {}
            }
            sb
        });
        let (_, f) = measure_as(
            self.group,
            &bench,
            variant,
            vec![Sb { sb: sb.clone(), db }; n],
            on_system(self.system, workload),
        );
        self.push(f);
        for s in sb.bus().stats() {
            eprintln!(
                "  {}: delivered {}, dropped {}",
                s.name, s.delivered, s.dropped
            );
        }
        self.system.block_on(sb.shutdown()).expect("shut down");
    }

    fn shared_pg(&mut self) {
        let (bench, n, workload) = (self.bench(), self.n, self.workload);
        if self.selected("tokio_pg") {
            let client = self.system.block_on(SharedPg::connect(self.url, |conn| {
                actix_rt::spawn(conn);
            }));
            let (_, f) = measure_as(
                self.group,
                &bench,
                "tokio_pg",
                vec![client; n],
                on_system(self.system, workload),
            );
            self.push(f);
        }
        if self.selected("tokio_pg_mt") {
            let mt = self.mt;
            let client = mt.block_on(SharedPg::connect(self.url, |conn| {
                tokio::spawn(conn);
            }));
            let (_, f) = measure_as(
                self.group,
                &bench,
                "tokio_pg_mt",
                vec![client; n],
                on_runtime!(mt, workload, SharedPg),
            );
            self.push(f);
        }
    }

    fn deadpool_mt(&mut self) {
        let (bench, n, db, workload) = (self.bench(), self.n, self.db, self.workload);
        if !self.selected("deadpool_mt") {
            return;
        }
        let mt = self.mt;
        let f = match db {
            Db::Postgres => {
                let pool = DeadpoolPg::new(self.url, n, db);
                mt.block_on(pool.warm(n));
                let run = on_runtime!(mt, workload, DeadpoolPg);
                measure_as(self.group, &bench, "deadpool_mt", vec![pool; n], run).1
            }
            Db::Mariadb => {
                let pool = DeadpoolMysql::new(self.url, n, db);
                mt.block_on(pool.warm(n));
                let run = on_runtime!(mt, workload, DeadpoolMysql);
                measure_as(self.group, &bench, "deadpool_mt", vec![pool; n], run).1
            }
        };
        self.push(f);
    }
}

/// Drives `w` through `count` operations in a task of its own, as the
/// rounds' clients run (and an application's request handlers). Driven
/// inline in `System::block_on`'s future instead, a client is polled only
/// after the runtime has polled its I/O once more (`epoll_wait` with no
/// timeout): a connection actor's answer wakes the `block_on` future, not
/// a task. That cost Switchboard one system call per statement that the
/// peers, whose client does its own I/O, did not pay (`strace -c`: 2.0
/// `epoll_wait` per statement against 1.0), and put tokio's park in the
/// instruction counts.
async fn drive_spawned<W: ops::Worker>(w: W, op: ops::Op, count: u64) {
    actix_rt::spawn(round::drive(w, 0, op, count, false))
        .await
        .expect("the client task");
}

/// `SB_BENCH_FIXED`'s run: `count` operations of one workload, one
/// client, no criterion.
fn fixed(spec: &str) {
    let parts: Vec<&str> = spec.split('/').collect();
    let [backend, workload, variant, count] = parts[..] else {
        panic!("SB_BENCH_FIXED={spec}: expected <pg|maria>/<workload>/<variant>/<count>");
    };
    let count: u64 = count.parse().expect("an operation count");
    let (db, url) = match backend {
        "pg" => (
            Db::Postgres,
            std::env::var("SWITCHBOARD_PG_URL").unwrap_or_else(|_| PG_DEFAULT.to_owned()),
        ),
        _ => (
            Db::Mariadb,
            std::env::var("SWITCHBOARD_MYSQL_URL").unwrap_or_else(|_| MYSQL_DEFAULT.to_owned()),
        ),
    };
    let workload = Workload::ALL
        .into_iter()
        .find(|w| w.name() == workload)
        .expect("a workload: select1, read_pk, insert, transaction or mixed");
    let system = actix::System::new();
    system.block_on(async {
        prepare(db, &url).await.expect("the bench tables");
        let op = workload.op(1);
        match (variant, db) {
            ("switchboard" | "sb_actor" | "sb_failures", _) => {
                let sb = crate::support::bench_pool(&url, 1)
                    .start()
                    .await
                    .expect("a switchboard pool");
                let filter = match variant {
                    "sb_actor" => Some(Filter::all()),
                    "sb_failures" => Some(Filter::kinds([Kind::ExecuteFailed, Kind::Denied])),
                    _ => None,
                };
                if let Some(filter) = filter {
                    let seen = Arc::new(AtomicU64::new(0));
                    let delivery = Delivery::lossless(1024);
                    sb.subscribe_actor("actor", Counter(seen), filter, delivery);
                }
                drive_spawned(Sb { sb: sb.clone(), db }, op, count).await;
                sb.shutdown().await.expect("shut down");
            }
            ("tokio_pg", Db::Postgres) => {
                let client = SharedPg::connect(&url, |conn| {
                    actix_rt::spawn(conn);
                })
                .await;
                drive_spawned(client, op, count).await;
            }
            ("deadpool", Db::Postgres) => {
                drive_spawned(DeadpoolPg::new(&url, 1, db), op, count).await;
            }
            ("deadpool", Db::Mariadb) => {
                drive_spawned(DeadpoolMysql::new(&url, 1, db), op, count).await;
            }
            _ => panic!(
                "SB_BENCH_FIXED: variant switchboard, sb_actor, sb_failures, deadpool or (PostgreSQL reads) tokio_pg"
            ),
        }
    });
}

fn main() {
    // Listed by cargo nextest or `cargo test --benches`: nothing to list.
    // A bench's measured run is never part of the test suite.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Ok(spec) = std::env::var("SB_BENCH_FIXED") {
        fixed(&spec);
        return;
    }
    let system = actix::System::new();
    let mt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a multi-thread runtime");
    let interleave: Option<usize> = std::env::var("SB_BENCH_INTERLEAVE")
        .ok()
        .map(|v| v.parse().expect("SB_BENCH_INTERLEAVE: a number of rounds"));
    let mut interleaved = Vec::new();
    let mut c = support::criterion();
    let mut figures: Vec<Figures> = Vec::new();
    for (db, var, default) in [
        (Db::Postgres, "SWITCHBOARD_PG_URL", PG_DEFAULT),
        (Db::Mariadb, "SWITCHBOARD_MYSQL_URL", MYSQL_DEFAULT),
    ] {
        let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
        if let Err(e) = system.block_on(prepare(db, &url)) {
            let message = format!("workloads: {} not reachable: {e}", db.name());
            if std::env::var("SWITCHBOARD_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("{message}");
            }
            eprintln!("SKIPPED {message}");
            continue;
        }
        if let Some(rounds) = interleave {
            for workload in Workload::ALL {
                for n in concurrency() {
                    interleaved
                        .extend(interleave::row(&system, &mt, db, &url, workload, n, rounds));
                }
            }
            continue;
        }
        for workload in Workload::ALL {
            let mut group = c.benchmark_group(format!("{}_{}", db.name(), workload.name()));
            group.throughput(Throughput::Elements(PER_ITER));
            for n in concurrency() {
                let mut rows = Rows {
                    system: &system,
                    mt: &mt,
                    group: &mut group,
                    db,
                    url: &url,
                    workload,
                    n,
                    figures: &mut figures,
                };
                rows.deadpool();
                rows.deadpool_mt();
                rows.switchboard("switchboard");
                rows.switchboard("sb_recipient");
                rows.switchboard("sb_actor");
                if db == Db::Postgres && matches!(workload, Workload::Select1 | Workload::ReadPk) {
                    rows.shared_pg();
                }
            }
            group.finish();
        }
    }
    if let Some(rounds) = interleave {
        interleave::print(&interleaved, rounds);
        return;
    }
    c.final_summary();
    print_summary(&figures);
}

/// The concurrency levels measured: [`CONCURRENCY`], or those listed in
/// `SB_BENCH_CONC` (`1,8`), to look at one more closely.
fn concurrency() -> Vec<usize> {
    match std::env::var("SB_BENCH_CONC") {
        Ok(list) => list
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect(),
        Err(_) => CONCURRENCY.to_vec(),
    }
}

fn print_summary(figures: &[Figures]) {
    use support::{micros, rate};
    println!();
    println!(
        "## workloads summary (operations/s, mean of the criterion rounds; mixed: the fast statements)"
    );
    println!();
    println!(
        "| backend | workload | conc | deadpool | deadpool_mt | peer (b) | switchboard (c) | + Recipient actor (d) | + subscribe_actor (e) | tokio-pg (t) | c/b | d/b | e/b | c/t |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let benches = support::benches(figures);
    for bench in &benches {
        let get = |v| support::find(figures, bench, v).map_or(0.0, |f| f.per_second);
        let (b1, b2, c, d, e) = (
            get("deadpool"),
            get("deadpool_mt"),
            get("switchboard"),
            get("sb_recipient"),
            get("sb_actor"),
        );
        let b = b1.max(b2);
        let t = get("tokio_pg").max(get("tokio_pg_mt"));
        let ratio = |x: f64, y: f64| {
            if x > 0.0 && y > 0.0 {
                format!("{:.2}", x / y)
            } else {
                "-".into()
            }
        };
        let shown = |x: f64| if x > 0.0 { rate(x) } else { "-".into() };
        let mut parts = bench.splitn(3, '/');
        let (backend, workload, conc) = (
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?").trim_start_matches('c'),
        );
        println!(
            "| {backend} | {workload} | {conc} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            shown(b1),
            shown(b2),
            shown(b),
            shown(c),
            shown(d),
            shown(e),
            shown(t),
            ratio(c, b),
            ratio(d, b),
            ratio(e, b),
            ratio(c, t),
        );
    }
    println!();
    println!("| row | variant | p50 µs | p99 µs | client CPU µs/op | other processes (cores) |");
    println!("|---|---|---|---|---|---|");
    for f in figures {
        println!(
            "| {} | {} | {} | {} | {} | {:.2} |",
            f.bench,
            f.variant,
            micros(f.p50),
            micros(f.p99),
            micros(f.cpu_per_statement),
            f.others
        );
    }
}

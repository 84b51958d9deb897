//! `SB_BENCH_INTERLEAVE=<rounds>`: Switchboard (plain, with an actor
//! subscribed through a `Recipient`, and through `subscribe_actor`, each
//! lossless) and the deadpool peers side by side in alternating rounds,
//! for ratios that hold still.
//!
//! On 2 cores shared with the database server, the criterion rows of one
//! variant are measured seconds after the other's, and the machine drifts
//! between them by more than the differences to be shown: quick runs of
//! the same binary gave deadpool 62 k to 95 k `SELECT 1`/s on MariaDB, and
//! a Switchboard/deadpool ratio anywhere from 0.77 to 1.05. Here every
//! contender's pool is started once, then each runs one short round in
//! turn, the order rotating every round, and each round's ratio is taken
//! against the peers of the same round. The summary gives the median of
//! those ratios with the smallest and the largest.
//!
//! On PostgreSQL reads the plain pool also runs, in a group of their own,
//! against one shared tokio-postgres client (statements prepared once),
//! the issue's `c/t`.
//!
//! At concurrency 32 the five pools would hold more connections than the
//! servers allow by default, so the plain pool runs with both peers and
//! the two subscribed pools with a deadpool of their own, one group after
//! the other.
//!
//! `SB_BENCH_ONLY` picks rows as in the criterion run (`maria/select1/8`);
//! `SB_BENCH_ROUND_OPS` sets the operations of one contender's round
//! (default: 16,000 for reads and `mixed`, 3,200 for `insert`, 1,600 for
//! `transaction`, about a quarter of a second each).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use actix::Actor;
use switchboard::{Delivery, Filter, Switchboard};

use crate::ops::{Counter, Db, DeadpoolMysql, DeadpoolPg, Sb, SharedPg};
use crate::round::{Workload, on_runtime, on_system};
use crate::support::{Round, rate, selected_path};

/// One contender: runs a round of `per_client` operations on each of its
/// clients and answers its throughput (operations per second).
struct Contender<'a> {
    round: Box<dyn FnMut(u64) -> f64 + 'a>,
}

fn contender<'a, W: 'a>(
    clients: Vec<W>,
    mut run: impl FnMut(Vec<W>, u64, bool) -> Round<W> + 'a,
) -> Contender<'a> {
    let mut clients = Some(clients);
    Contender {
        round: Box::new(move |per_client| {
            let r = run(clients.take().expect("the clients"), per_client, false);
            clients = Some(r.clients);
            r.counted as f64 / r.elapsed.as_secs_f64()
        }),
    }
}

/// The operations of one contender's round.
fn round_ops(workload: Workload) -> u64 {
    if let Some(n) = std::env::var("SB_BENCH_ROUND_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        return n;
    }
    match workload {
        Workload::Select1 | Workload::ReadPk | Workload::Mixed => 16_000,
        Workload::Insert => 3_200,
        Workload::Transaction => 1_600,
    }
}

/// One row's result: each contender's median throughput, and the median,
/// smallest and largest per-round ratio of Switchboard to each peer and
/// to the better peer of the round, and of the subscribed pools to
/// deadpool.
pub struct Row {
    pub name: String,
    pub rates: Vec<(&'static str, f64)>,
    pub ratios: Vec<(&'static str, f64, f64, f64)>,
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

/// Connections the contenders of one group may hold together: the
/// servers' default limits are 100 (PostgreSQL) and 151 (MariaDB).
const CONNECTIONS: usize = 96;

/// Runs `rounds` interleaved rounds of one row. Switchboard's pools and
/// both peers run in one group when their connections fit under
/// [`CONNECTIONS`]; otherwise (concurrency 32) in two, each with its own
/// deadpool, and each ratio is taken within its group.
#[allow(clippy::too_many_arguments)]
pub fn row(
    system: &actix::SystemRunner,
    mt: &tokio::runtime::Runtime,
    db: Db,
    url: &str,
    workload: Workload,
    n: usize,
    rounds: usize,
) -> Option<Row> {
    let name = format!("{}/{}/{n}", db.name(), workload.name());
    if !selected_path(&format!("{name}/")) {
        return None;
    }
    let all = [
        "switchboard",
        "sb_recipient",
        "sb_actor",
        "deadpool",
        "deadpool_mt",
    ];
    let mut groups: Vec<&[&'static str]> = if all.len() * n <= CONNECTIONS {
        vec![&all]
    } else {
        vec![
            &["switchboard", "deadpool", "deadpool_mt"],
            &["sb_recipient", "sb_actor", "deadpool"],
        ]
    };
    // An experiment, asked for by name: the pool on an arbiter thread of
    // its own, the callers on the system's.
    let arbiter = std::env::var("SB_BENCH_ARBITER").is_ok();
    if arbiter {
        groups = vec![&["switchboard", "sb_arbiter", "deadpool"]];
    }
    // PostgreSQL reads: also against one shared tokio-postgres client.
    if db == Db::Postgres && matches!(workload, Workload::Select1 | Workload::ReadPk) {
        groups.push(&["switchboard", "tokio_pg"]);
    }
    let (mut rates, mut ratios) = (Vec::new(), Vec::new());
    for group in groups {
        let run = Group {
            system,
            mt,
            db,
            url,
            workload,
            n,
        };
        let measured = run.measure(group, rounds);
        let of = |name: &str| group.iter().position(|g| *g == name).map(|i| &measured[i]);
        let mut ratio = |label, ours: &str, to: &dyn Fn(usize) -> Option<f64>| {
            let Some(ours) = of(ours) else { return };
            let mut per_round: Vec<f64> = (0..rounds)
                .filter_map(|r| to(r).map(|p| ours[r] / p))
                .collect();
            if per_round.is_empty() {
                return;
            }
            let (lo, hi) = min_max(&per_round);
            ratios.push((label, median(&mut per_round), lo, hi));
        };
        let peer = |name: &str, r: usize| of(name).map(|p| p[r]);
        ratio("deadpool", "switchboard", &|r| peer("deadpool", r));
        ratio("deadpool_mt", "switchboard", &|r| peer("deadpool_mt", r));
        ratio("better peer", "switchboard", &|r| {
            Some(peer("deadpool", r)?.max(peer("deadpool_mt", r)?))
        });
        ratio("recipient vs deadpool", "sb_recipient", &|r| {
            peer("deadpool", r)
        });
        ratio("subscribe_actor vs deadpool", "sb_actor", &|r| {
            peer("deadpool", r)
        });
        ratio("tokio_pg", "switchboard", &|r| peer("tokio_pg", r));
        ratio("arbiter vs deadpool", "sb_arbiter", &|r| {
            peer("deadpool", r)
        });
        for (name, mut xs) in group.iter().zip(measured) {
            // The plain pool and the peers as measured beside it.
            if !rates.iter().any(|(n, _)| n == name) {
                rates.push((*name, median(&mut xs)));
            }
        }
    }
    if arbiter {
        for (label, med, lo, hi) in &ratios {
            if matches!(*label, "deadpool" | "arbiter vs deadpool") {
                eprintln!("{name}: {label} {med:.2} [{lo:.2}, {hi:.2}]");
            }
        }
    }
    Some(Row {
        name,
        rates,
        ratios,
    })
}

/// What one group of contenders is run with.
struct Group<'a> {
    system: &'a actix::SystemRunner,
    mt: &'a tokio::runtime::Runtime,
    db: Db,
    url: &'a str,
    workload: Workload,
    n: usize,
}

impl Group<'_> {
    /// Starts the contenders `names`, runs one uncounted round each, then
    /// `rounds` rounds in rotating order; answers each one's throughput
    /// per round, in the order of `names`. Switchboard's pools are shut
    /// down and the peers' dropped before it returns.
    fn measure(&self, names: &[&'static str], rounds: usize) -> Vec<Vec<f64>> {
        let Group {
            system,
            db,
            workload,
            n,
            ..
        } = *self;
        let mut pools = Vec::new();
        let mut arbiters = Vec::new();
        let mut contenders = Vec::new();
        for &name in names {
            match name {
                "sb_arbiter" => {
                    let arbiter = actix::Arbiter::new();
                    let (tx, rx) = std::sync::mpsc::channel();
                    let (url, size) = (self.url.to_owned(), n);
                    arbiter.spawn_fn(move || {
                        actix_rt::spawn(async move {
                            let sb = crate::support::bench_pool(&url, size).start().await;
                            let _ = tx.send(sb);
                        });
                    });
                    let sb = rx
                        .recv()
                        .expect("the pool's arbiter")
                        .expect("a switchboard pool");
                    contenders.push(contender(
                        vec![Sb { sb: sb.clone(), db }; n],
                        on_system(system, workload),
                    ));
                    pools.push(sb);
                    arbiters.push(arbiter);
                }
                "switchboard" | "sb_recipient" | "sb_actor" => {
                    let sb = self.switchboard(name);
                    contenders.push(contender(
                        vec![Sb { sb: sb.clone(), db }; n],
                        on_system(system, workload),
                    ));
                    pools.push(sb);
                }
                "deadpool" | "deadpool_mt" => contenders.push(self.deadpool(name)),
                "tokio_pg" => {
                    let client = system.block_on(SharedPg::connect(self.url, |conn| {
                        actix_rt::spawn(conn);
                    }));
                    contenders.push(contender(vec![client; n], on_system(system, workload)));
                }
                other => panic!("no contender {other}"),
            }
        }
        let per_client = (round_ops(workload) / n as u64).max(1);
        // One uncounted round each: connections warm, statements prepared,
        // placement's timings measured.
        for c in &mut contenders {
            (c.round)(per_client);
        }
        let m = contenders.len();
        let mut rates = vec![Vec::with_capacity(rounds); m];
        for r in 0..rounds {
            for k in 0..m {
                let i = (r + k) % m;
                rates[i].push((contenders[i].round)(per_client));
            }
        }
        drop(contenders);
        for sb in pools {
            system.block_on(sb.shutdown()).expect("shut down");
        }
        for arbiter in arbiters {
            arbiter.stop();
        }
        rates
    }

    /// A Switchboard pool of `n` connections; `sb_recipient` and
    /// `sb_actor` with a lossless actor subscribed to every event.
    fn switchboard(&self, name: &str) -> Switchboard {
        self.system.block_on(async {
            let sb = crate::support::bench_pool(self.url, self.n)
                .start()
                .await
                .expect("a switchboard pool");
            let seen = Arc::new(AtomicU64::new(0));
            let delivery = Delivery::lossless(1024);
            match name {
                "sb_recipient" => {
                    let addr = Counter(seen).start();
                    sb.bus()
                        .subscribe("actor", addr.recipient(), Filter::all(), delivery);
                }
                "sb_actor" => {
                    sb.subscribe_actor("actor", Counter(seen), Filter::all(), delivery);
                }
                _ => {}
            }
            sb
        })
    }

    /// deadpool + diesel-async with `n` connections, on the actix system's
    /// thread (`deadpool`) or on the 2-worker runtime (`deadpool_mt`).
    fn deadpool<'a>(&self, name: &'static str) -> Contender<'a>
    where
        Self: 'a,
    {
        let Group {
            system,
            mt,
            db,
            url,
            workload,
            n,
        } = *self;
        match (db, name) {
            (Db::Postgres, "deadpool") => {
                let pool = DeadpoolPg::new(url, n, db);
                system.block_on(pool.warm(n));
                contender(vec![pool; n], on_system(system, workload))
            }
            (Db::Postgres, _) => {
                let pool = DeadpoolPg::new(url, n, db);
                mt.block_on(pool.warm(n));
                contender(vec![pool; n], on_runtime!(mt, workload, DeadpoolPg))
            }
            (Db::Mariadb, "deadpool") => {
                let pool = DeadpoolMysql::new(url, n, db);
                system.block_on(pool.warm(n));
                contender(vec![pool; n], on_system(system, workload))
            }
            (Db::Mariadb, _) => {
                let pool = DeadpoolMysql::new(url, n, db);
                mt.block_on(pool.warm(n));
                contender(vec![pool; n], on_runtime!(mt, workload, DeadpoolMysql))
            }
        }
    }
}

fn min_max(xs: &[f64]) -> (f64, f64) {
    xs.iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

/// Prints the rows as one Markdown table.
pub fn print(rows: &[Row], rounds: usize) {
    println!();
    println!(
        "## workloads, interleaved ({rounds} rounds; medians of the per-round figures, [smallest, largest])"
    );
    println!();
    println!(
        "| row | switchboard/s | deadpool/s | deadpool_mt/s | vs deadpool | vs deadpool_mt | vs the better peer of each round | + Recipient actor vs deadpool | + subscribe_actor vs deadpool | vs a shared tokio-postgres client |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for row in rows {
        let rate_of = |name| {
            row.rates
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("-".to_owned(), |(_, r)| rate(*r))
        };
        let ratio_of = |name| {
            row.ratios
                .iter()
                .find(|(n, ..)| *n == name)
                .map_or("-".to_owned(), |(_, m, lo, hi)| {
                    format!("**{m:.2}** [{lo:.2}, {hi:.2}]")
                })
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            rate_of("switchboard"),
            rate_of("deadpool"),
            rate_of("deadpool_mt"),
            ratio_of("deadpool"),
            ratio_of("deadpool_mt"),
            ratio_of("better peer"),
            ratio_of("recipient vs deadpool"),
            ratio_of("subscribe_actor vs deadpool"),
            ratio_of("tokio_pg"),
        );
    }
}

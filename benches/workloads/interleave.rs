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
//! `SB_BENCH_ONLY` picks rows as in the criterion run (`maria/select1/8`);
//! `SB_BENCH_ROUND_OPS` sets the operations of one contender's round
//! (default: 16,000 for reads and `mixed`, 3,200 for `insert`, 1,600 for
//! `transaction`, about a quarter of a second each).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use actix::Actor;
use switchboard::{Delivery, Filter, Switchboard};

use crate::ops::{Counter, Db, DeadpoolMysql, DeadpoolPg, Sb};
use crate::round::{Workload, on_runtime, on_system};
use crate::support::{Round, rate, selected_path};

/// One contender: runs a round of `per_client` operations on each of its
/// clients and answers its throughput (operations per second).
struct Contender<'a> {
    name: &'static str,
    round: Box<dyn FnMut(u64) -> f64 + 'a>,
}

fn contender<'a, W: 'a>(
    name: &'static str,
    clients: Vec<W>,
    mut run: impl FnMut(Vec<W>, u64, bool) -> Round<W> + 'a,
) -> Contender<'a> {
    let mut clients = Some(clients);
    Contender {
        name,
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

/// Runs `rounds` interleaved rounds of one row.
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
    let pool = |subscriber: Option<&str>| {
        system.block_on(async {
            let sb = Switchboard::builder(url)
                .name("bench")
                .pool_size(n..=n)
                .start()
                .await
                .expect("a switchboard pool");
            let seen = Arc::new(AtomicU64::new(0));
            let delivery = Delivery::lossless(1024);
            match subscriber {
                Some("recipient") => {
                    let addr = Counter(seen).start();
                    sb.bus()
                        .subscribe("actor", addr.recipient(), Filter::all(), delivery);
                }
                Some(_) => {
                    sb.subscribe_actor("actor", Counter(seen), Filter::all(), delivery);
                }
                None => {}
            }
            sb
        })
    };
    let pools = [pool(None), pool(Some("recipient")), pool(Some("actor"))];
    let mut contenders = Vec::new();
    for (name, sb) in ["switchboard", "sb_recipient", "sb_actor"]
        .into_iter()
        .zip(&pools)
    {
        contenders.push(contender(
            name,
            vec![Sb { sb: sb.clone(), db }; n],
            on_system(system, workload),
        ));
    }
    match db {
        Db::Postgres => {
            let pool = DeadpoolPg::new(url, n, db);
            system.block_on(pool.warm(n));
            contenders.push(contender(
                "deadpool",
                vec![pool; n],
                on_system(system, workload),
            ));
            let pool = DeadpoolPg::new(url, n, db);
            mt.block_on(pool.warm(n));
            contenders.push(contender(
                "deadpool_mt",
                vec![pool; n],
                on_runtime!(mt, workload, DeadpoolPg),
            ));
        }
        Db::Mariadb => {
            let pool = DeadpoolMysql::new(url, n, db);
            system.block_on(pool.warm(n));
            contenders.push(contender(
                "deadpool",
                vec![pool; n],
                on_system(system, workload),
            ));
            let pool = DeadpoolMysql::new(url, n, db);
            mt.block_on(pool.warm(n));
            contenders.push(contender(
                "deadpool_mt",
                vec![pool; n],
                on_runtime!(mt, workload, DeadpoolMysql),
            ));
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
    // Switchboard's three pools come first, the peers after them.
    let (ours, peers) = rates.split_at(3);
    let (sb_rates, deadpool) = (&ours[0], &peers[0]);
    let mut ratios = Vec::new();
    let mut ratio = |name, of: &[f64], to: &dyn Fn(usize) -> f64| {
        let mut per_round: Vec<f64> = (0..rounds).map(|r| of[r] / to(r)).collect();
        let (lo, hi) = min_max(&per_round);
        ratios.push((name, median(&mut per_round), lo, hi));
    };
    ratio("deadpool", sb_rates, &|r| deadpool[r]);
    ratio("deadpool_mt", sb_rates, &|r| peers[1][r]);
    let better = |r: usize| peers.iter().map(|p| p[r]).fold(0.0, f64::max);
    ratio("better peer", sb_rates, &better);
    ratio("recipient vs deadpool", &ours[1], &|r| deadpool[r]);
    ratio("subscribe_actor vs deadpool", &ours[2], &|r| deadpool[r]);
    let rates = contenders
        .iter()
        .zip(rates)
        .map(|(c, mut xs)| (c.name, median(&mut xs)))
        .collect();
    drop(contenders);
    for sb in pools {
        system.block_on(sb.shutdown()).expect("shut down");
    }
    Some(Row {
        name,
        rates,
        ratios,
    })
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
        "| row | switchboard/s | deadpool/s | deadpool_mt/s | vs deadpool | vs deadpool_mt | vs the better peer of each round | + Recipient actor vs deadpool | + subscribe_actor vs deadpool |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
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
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            rate_of("switchboard"),
            rate_of("deadpool"),
            rate_of("deadpool_mt"),
            ratio_of("deadpool"),
            ratio_of("deadpool_mt"),
            ratio_of("better peer"),
            ratio_of("recipient vs deadpool"),
            ratio_of("subscribe_actor vs deadpool"),
        );
    }
}

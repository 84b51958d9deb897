//! Rounds of concurrent clients running a workload, on the actix system
//! (one thread, as Switchboard runs) or on a 2-worker multi-thread tokio
//! runtime (where the peers may do better).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::ops::{Op, Worker};
use crate::support::{Round, key};

/// What the clients of a round run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Select1,
    ReadPk,
    Insert,
    Transaction,
    /// Client 0 runs the 50 ms statement in a loop while the others run
    /// `SELECT 1`; only theirs are counted and timed.
    Mixed,
}

impl Workload {
    pub const ALL: [Workload; 5] = [
        Workload::Select1,
        Workload::ReadPk,
        Workload::Insert,
        Workload::Transaction,
        Workload::Mixed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Select1 => "select1",
            Workload::ReadPk => "read_pk",
            Workload::Insert => "insert",
            Workload::Transaction => "transaction",
            Workload::Mixed => "mixed",
        }
    }

    /// What client `i` runs.
    pub fn op(self, i: usize) -> Op {
        match self {
            Workload::Select1 => Op::Select1,
            Workload::ReadPk => Op::ReadPk,
            Workload::Insert => Op::Insert,
            Workload::Transaction => Op::Transaction,
            Workload::Mixed if i == 0 => Op::Slow,
            Workload::Mixed => Op::Select1,
        }
    }
}

/// One client's share of a round: `count` operations, each timed when
/// `timed` (nanoseconds).
pub async fn drive<W: Worker>(
    mut w: W,
    i: usize,
    op: Op,
    count: u64,
    timed: bool,
) -> (W, Vec<u64>) {
    let mut latencies = Vec::with_capacity(if timed { count as usize } else { 0 });
    for k in 0..count {
        if timed {
            let started = Instant::now();
            w.op(op, key(i, k)).await;
            latencies.push(started.elapsed().as_nanos() as u64);
        } else {
            w.op(op, key(i, k)).await;
        }
    }
    (w, latencies)
}

/// The slow client of a mixed round: its statement, again and again,
/// until `stop`.
pub async fn slow_loop<W: Worker>(mut w: W, stop: Arc<AtomicBool>) -> (W, Vec<u64>) {
    while !stop.load(Ordering::Relaxed) {
        w.op(Op::Slow, 1).await;
    }
    (w, Vec::new())
}

/// Runs a round, each client in a task `$spawn` starts.
macro_rules! round {
    ($clients:expr, $workload:expr, $per_client:expr, $timed:expr, $spawn:path) => {{
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        use $crate::ops::Op;
        use $crate::round::{drive, slow_loop};
        use $crate::support::Round;
        let (clients, workload, per_client, timed) = ($clients, $workload, $per_client, $timed);
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut slow = None;
        let mut fast = Vec::new();
        for (i, c) in clients.into_iter().enumerate() {
            match workload.op(i) {
                Op::Slow => slow = Some($spawn(slow_loop(c, stop.clone()))),
                op => fast.push((i, $spawn(drive(c, i, op, per_client, timed)))),
            }
        }
        let mut round = Round {
            clients: Vec::new(),
            elapsed: Duration::ZERO,
            latencies: Vec::new(),
            counted: per_client * fast.len() as u64,
        };
        let mut done = Vec::new();
        for (i, task) in fast {
            let (c, lat) = task.await.expect("a client task");
            done.push((i, c));
            round.latencies.extend(lat);
        }
        round.elapsed = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        if let Some(task) = slow {
            let (c, _) = task.await.expect("the slow client");
            done.push((0, c));
        }
        done.sort_by_key(|(i, _)| *i);
        round.clients = done.into_iter().map(|(_, c)| c).collect();
        round
    }};
}

/// A round on the current arbiter (call inside `System::block_on`).
pub async fn round_local<W: Worker>(
    clients: Vec<W>,
    workload: Workload,
    per_client: u64,
    timed: bool,
) -> Round<W> {
    round!(clients, workload, per_client, timed, actix_rt::spawn)
}

/// Rounds on an actix system, for `measure_as`.
pub fn on_system<W: Worker>(
    system: &actix::SystemRunner,
    workload: Workload,
) -> impl FnMut(Vec<W>, u64, bool) -> Round<W> + '_ {
    move |clients, per_client, timed| {
        system.block_on(round_local(clients, workload, per_client, timed))
    }
}

/// Rounds on a multi-thread tokio runtime, each client a spawned task.
/// A macro, as only a concrete client type shows its futures are `Send`.
macro_rules! on_runtime {
    ($rt:expr, $workload:expr, $client:ty) => {{
        let (rt, workload) = ($rt, $workload);
        move |clients: Vec<$client>, per_client: u64, timed: bool| {
            rt.block_on(async {
                $crate::round::round!(clients, workload, per_client, timed, tokio::spawn)
            })
        }
    }};
}
pub(crate) use on_runtime;
pub(crate) use round;

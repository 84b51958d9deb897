//! CPU accounting from `/proc`: this process's CPU per statement, and how
//! much CPU other processes took meanwhile (a noisy machine).

use std::collections::HashMap;

/// CPU time counters, in clock ticks (1/100 s): the whole machine busy
/// in processes (user and system, not interrupts) and in total, this
/// process, and every process named `postgres`.
#[derive(Debug, Clone, Default)]
pub struct Ticks {
    pub busy: u64,
    pub total: u64,
    pub own: u64,
    /// Per PostgreSQL process (server and backends), by pid.
    pub postgres: HashMap<u32, u64>,
}

impl Ticks {
    pub fn now() -> Ticks {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal ...; interrupt
        // time (loopback networking, mostly) belongs to no process.
        let at = |i: usize| cpu.get(i).copied().unwrap_or(0);
        let busy = at(0) + at(1) + at(2);
        let total: u64 = cpu.iter().take(8).sum();
        let mut postgres = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let path = entry.path();
                let Some(pid) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                if let Ok(text) = std::fs::read_to_string(path.join("stat"))
                    && text.contains("(postgres)")
                {
                    postgres.insert(pid, proc_ticks(&text));
                }
            }
        }
        let own = own_ticks_now();
        Ticks {
            busy,
            total,
            own,
            postgres,
        }
    }

    /// CPU ticks spent since `before` by processes other than this one and
    /// PostgreSQL (other work on the machine, which makes figures noisy),
    /// and the wall ticks that passed. A PostgreSQL backend that exited
    /// meanwhile loses its last moments to "other".
    pub fn others_since(&self, before: &Ticks) -> (u64, u64) {
        let wall = (self.total.saturating_sub(before.total) as f64 / cores()) as u64;
        let busy = self.busy.saturating_sub(before.busy);
        let postgres: u64 = self
            .postgres
            .iter()
            .map(|(pid, t)| t.saturating_sub(before.postgres.get(pid).copied().unwrap_or(0)))
            .sum();
        let mine = self.own.saturating_sub(before.own) + postgres;
        (busy.saturating_sub(mine), wall)
    }
}

/// CPU ticks of this process so far (every thread).
pub fn own_ticks_now() -> u64 {
    std::fs::read_to_string("/proc/self/stat")
        .map(|t| proc_ticks(&t))
        .unwrap_or(0)
}

/// utime + stime of a `/proc/PID/stat` text.
fn proc_ticks(stat: &str) -> u64 {
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let at = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    at(11) + at(12)
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
}

//! Shared helpers: which servers to use, unique table names, running a test
//! body inside an actix System, collecting events.

pub mod chromium;
pub mod private_pg;
pub mod proxy;

use std::future::Future;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use switchboard::{Backend, Event, EventReceiver, Execute, Kind, Switchboard};

/// The three backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
    Mysql,
}

pub const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
pub const MYSQL_DEFAULT: &str = "mysql://root@127.0.0.1:3306/test";

/// What a test body gets: a URL for its backend and a unique table name.
pub struct Target {
    pub db: Db,
    pub url: String,
    /// Unique per test run: `sb_<test>_<pid>_<n>`.
    pub table: String,
    /// Removed at the end (SQLite files).
    cleanup: Vec<std::path::PathBuf>,
}

impl Target {
    /// The backend's placeholder for bind `n` (1-based).
    pub fn ph(&self, n: usize) -> String {
        match self.db {
            Db::Postgres => format!("${n}"),
            _ => "?".to_owned(),
        }
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite => Backend::Sqlite,
            Db::Postgres => Backend::Postgres,
            Db::Mysql => Backend::Mysql,
        }
    }

    /// A builder for this target with a small pool.
    pub fn builder(&self) -> switchboard::Builder {
        Switchboard::builder(self.url.clone())
            .name(self.table.clone())
            .checkout_timeout(Duration::from_secs(20))
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        for path in &self.cleanup {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

static NEXT: AtomicU64 = AtomicU64::new(1);

pub fn require_services() -> bool {
    std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The server URL of a backend, or `None` (after a loud message) when the
/// server is not reachable and services are not required.
pub fn server_url(db: Db) -> Option<String> {
    let (var, default) = match db {
        Db::Postgres => ("SWITCHBOARD_PG_URL", PG_DEFAULT),
        Db::Mysql => ("SWITCHBOARD_MYSQL_URL", MYSQL_DEFAULT),
        Db::Sqlite => return Some(String::new()),
    };
    let url = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    let reachable = url::Url::parse(&url).ok().and_then(|u| {
        let host = u.host_str()?.to_owned();
        let port = u
            .port()
            .unwrap_or(if db == Db::Postgres { 5432 } else { 3306 });
        let addr = (host.as_str(), port).to_socket_addrs().ok()?.next()?;
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()
    });
    if reachable.is_some() {
        return Some(url);
    }
    if require_services() {
        panic!("{var} ({url}) is not reachable and SWITCHBOARD_REQUIRE_SERVICES=1");
    }
    eprintln!(
        "\n!!! SKIPPED: {db:?} server at {var}={url} is not reachable; set SWITCHBOARD_REQUIRE_SERVICES=1 to make this a failure\n"
    );
    None
}

/// A fresh target for `test` on `db`, or `None` if its server is missing.
pub fn target(db: Db, test: &str) -> Option<Target> {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // Within every backend's identifier limit (63 bytes on PostgreSQL).
    let short: String = test.chars().take(36).collect();
    let table = format!("sb_{short}_{}_{n}", std::process::id());
    let mut cleanup = Vec::new();
    let url = match db {
        Db::Sqlite => {
            let path = std::env::temp_dir().join(format!("{table}.db"));
            cleanup.push(path.clone());
            format!("sqlite://{}", path.display())
        }
        _ => server_url(db)?,
    };
    Some(Target {
        db,
        url,
        table,
        cleanup,
    })
}

/// Runs an async test body inside an actix System of its own.
pub fn run_local<F: Future<Output = ()>>(f: F) {
    actix::System::new().block_on(f);
}

/// Inserts rows 1 ('a') and 2 ('b') into the test's table.
pub async fn insert_two_rows(sb: &Switchboard, t: &Target) {
    sb.run(Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES (1, 'a', 1), (2, 'b', 2)",
        t.table
    )))
    .await
    .unwrap();
}

/// A guard denying every statement whose parsed operation is `operation`
/// (by the parse, not by text matching).
pub struct DenyOperation {
    pub guard: &'static str,
    pub operation: &'static str,
    pub reason: &'static str,
}

impl switchboard::Guard for DenyOperation {
    fn name(&self) -> &str {
        self.guard
    }
    fn check(&self, check: &switchboard::Check) -> switchboard::Ruling {
        match check.as_statement().map(|s| &*s.classified) {
            Some(Ok(c)) if c.operation == self.operation => switchboard::Ruling::deny(self.reason),
            _ => switchboard::Ruling::allow(),
        }
    }
}

/// Runs an async test body for `db` inside its own actix System.
pub fn run<F, Fut>(db: Db, test: &str, body: F)
where
    F: FnOnce(Target) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(target) = target(db, test) else {
        return;
    };
    actix::System::new().block_on(body(target));
}

/// Generates `sqlite`, `postgres` and `mysql` tests from one async body
/// `async fn(Target)`.
#[macro_export]
macro_rules! each_backend {
    ($name:ident) => {
        mod $name {
            use $crate::support::{Db, run};
            #[test]
            fn sqlite() {
                run(Db::Sqlite, stringify!($name), super::$name);
            }
            #[test]
            fn postgres() {
                run(Db::Postgres, stringify!($name), super::$name);
            }
            #[test]
            fn mysql() {
                run(Db::Mysql, stringify!($name), super::$name);
            }
        }
    };
}

/// Creates the test's table `(id INTEGER PRIMARY KEY, name VARCHAR(64), n INTEGER)`.
pub async fn create_table(sb: &Switchboard, t: &Target) {
    sb.run(Execute::sql(format!(
        "CREATE TABLE {} (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, n INTEGER NOT NULL)",
        t.table
    )))
    .await
    .unwrap();
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    c: i64,
}

/// Rows in the test's table, as the database counts them.
pub async fn count_rows(sb: &Switchboard, t: &Target) -> i64 {
    let rows: Vec<Count> = sb
        .run(switchboard::Load::new(diesel::sql_query(format!(
            "SELECT COUNT(*) AS c FROM {}",
            t.table
        ))))
        .await
        .unwrap();
    rows[0].c
}

/// Drops the test's table.
pub async fn drop_table(sb: &Switchboard, t: &Target) {
    sb.run(Execute::sql(format!("DROP TABLE IF EXISTS {}", t.table)))
        .await
        .unwrap();
}

/// Everything the receiver holds right now.
pub fn drain(rx: &EventReceiver) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// A bus with one lossless channel subscription on it, for a test to read
/// every event (or every event of `filter`) afterwards.
pub fn observed(
    name: &str,
    filter: switchboard::Filter,
    capacity: usize,
) -> (switchboard::Bus, EventReceiver) {
    let bus = switchboard::Bus::new();
    let rx = bus
        .subscribe_channel(name, filter, switchboard::Delivery::lossless(capacity))
        .unwrap();
    (bus, rx)
}

/// Counts the events of `kind` published on `bus` from now on (a lossless
/// subscription of its own), for a test to wait for with `eventually`.
pub fn counted(bus: &switchboard::Bus, kind: Kind) -> Arc<AtomicUsize> {
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    bus.subscribe_fn(
        &format!("counted:{kind}"),
        switchboard::Filter::from(kind),
        switchboard::Delivery::lossless(1024),
        move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        },
    )
    .unwrap();
    n
}

/// Asserts every connection's sequence numbers (and the pool's own, for its
/// events without a connection) run 1, 2, 3, ... with no gap or reorder;
/// returns how many connections there were.
pub fn assert_gap_free(events: &[Event]) -> usize {
    let mut per_conn = std::collections::BTreeMap::<u64, Vec<u64>>::new();
    for e in events {
        // The pool's own events (no connection) count their own sequence.
        per_conn
            .entry(e.meta().connection.unwrap_or(0))
            .or_default()
            .push(e.meta().seq);
    }
    for (conn, seqs) in &per_conn {
        let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
        assert_eq!(seqs, &expected, "gap or reorder on connection {conn}");
    }
    per_conn.keys().filter(|c| **c != 0).count()
}

//! A private PostgreSQL for fault tests: `initdb` into a temporary
//! directory, a port of its own, started, stopped and restarted by the test.
//! The machine's shared server is never touched.
//!
//! `initdb` and `postgres` refuse to run as root, so as root the harness
//! runs them as the unprivileged user `sbtest` (created on first use) through
//! `runuser`. Debian keeps the server binaries off `PATH`, under
//! `/usr/lib/postgresql/<version>/bin`; `PATH` is tried after that.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::require_services;

/// The unprivileged user that owns and runs the private servers.
const USER: &str = "sbtest";

static NEXT: AtomicU64 = AtomicU64::new(1);

/// How to stop the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `pg_ctl stop -m fast`: sessions are told "terminating connection due
    /// to administrator command", then the server shuts down cleanly.
    Fast,
    /// `pg_ctl stop -m immediate`: a crash; recovery runs at the next start.
    Immediate,
}

/// One private server. Dropping it stops the server and removes its
/// directory.
pub struct PrivatePg {
    /// Where `initdb`, `pg_ctl` and `postgres` live.
    bin: PathBuf,
    /// The temporary directory: `data/`, the Unix socket and `log`.
    dir: PathBuf,
    port: u16,
    /// Whether the binaries must run as `USER` (the tests run as root).
    as_user: bool,
    /// Whether the server is up, so `Drop` knows to stop it.
    running: AtomicBool,
}

impl PrivatePg {
    /// Initialises and starts a server for `test`, or `None` (after a loud
    /// message) when PostgreSQL's server binaries are not installed and
    /// services are not required. Panics when they are installed but the
    /// server cannot be set up: that is a broken harness, not a skip.
    pub fn start(test: &str) -> Option<PrivatePg> {
        let Some(bin) = find_bin_dir() else {
            if require_services() {
                panic!(
                    "PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH, and SWITCHBOARD_REQUIRE_SERVICES=1"
                );
            }
            eprintln!(
                "\n!!! SKIPPED {test}: PostgreSQL server binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin or on PATH; install the postgresql package, or set SWITCHBOARD_REQUIRE_SERVICES=1 to make this a failure\n"
            );
            return None;
        };
        let as_user = running_as_root();
        if as_user {
            ensure_user();
        }
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sb-pg-{test}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut pg = PrivatePg {
            bin,
            dir,
            port: 0,
            as_user,
            running: AtomicBool::new(false),
        };
        if as_user {
            pg.sh("chown", &[USER, &pg.dir.display().to_string()]);
        }
        let data = pg.data().display().to_string();
        let initdb = [
            "-D",
            &data,
            "-A",
            "trust",
            "-U",
            "postgres",
            "--no-sync",
            "--locale=C",
            "-E",
            "UTF8",
        ];
        // A failure names the directory's owner and the user's uid: the
        // one seen under parallel runs was a directory given to a user
        // that was then made again under another uid (see `ensure_user`).
        let out = run(pg.command("initdb").args(initdb));
        if !out.status.success() {
            let owner = std::fs::metadata(&pg.dir).map(|m| (m.uid(), m.mode()));
            let user = run(Command::new("id").arg(USER));
            panic!(
                "initdb {initdb:?} failed ({}); directory (uid, mode) {owner:?}, `id {USER}`: {}\n{}{}",
                out.status,
                String::from_utf8_lossy(&user.stdout).trim(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // Another process may take a port between our probe and the
        // server's bind; a second port then does.
        for _ in 0..3 {
            pg.port = free_port();
            if pg.try_start().is_ok() {
                return Some(pg);
            }
        }
        let log = std::fs::read_to_string(pg.dir.join("log")).unwrap_or_default();
        panic!(
            "private PostgreSQL in {} did not start:\n{log}",
            pg.dir.display()
        );
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stops the server and waits until it is down. Blocks: call it from a
    /// blocking task, not on an actix arbiter.
    pub fn stop(&self, how: Stop) {
        let mode = match how {
            Stop::Fast => "fast",
            Stop::Immediate => "immediate",
        };
        let data = self.data().display().to_string();
        self.tool("pg_ctl", &["-D", &data, "-m", mode, "-w", "stop"]);
        self.running.store(false, Ordering::SeqCst);
    }

    /// Starts the server again on the same port and data, and waits until
    /// it accepts connections. Blocks, as [`stop`](Self::stop) does.
    pub fn start_again(&self) {
        if let Err(log) = self.try_start() {
            panic!("private PostgreSQL did not start again:\n{log}");
        }
    }

    fn try_start(&self) -> Result<(), String> {
        let data = self.data().display().to_string();
        let log = self.dir.join("log").display().to_string();
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c shared_buffers=16MB",
            self.port,
            self.dir.display()
        );
        let mut cmd = self.command("pg_ctl");
        cmd.args([
            "-D", &data, "-o", &options, "-l", &log, "-w", "-t", "30", "start",
        ]);
        let out = run(&mut cmd);
        if out.status.success() {
            self.running.store(true, Ordering::SeqCst);
            return Ok(());
        }
        Err(format!(
            "{}{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        ))
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// A server binary, as `USER` when running as root, from inside the
    /// temporary directory (the user may not read the test's own).
    fn command(&self, tool: &str) -> Command {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_user {
            let mut c = Command::new("runuser");
            c.args(["-u", USER, "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    /// Runs a server binary; panics with its output if it fails.
    fn tool(&self, tool: &str, args: &[&str]) {
        let mut cmd = self.command(tool);
        cmd.args(args);
        check(&format!("{tool} {args:?}"), run(&mut cmd));
    }

    fn sh(&self, program: &str, args: &[&str]) {
        check(
            &format!("{program} {args:?}"),
            run(Command::new(program).args(args)),
        );
    }
}

impl Drop for PrivatePg {
    fn drop(&mut self) {
        if self.running.load(Ordering::SeqCst) {
            let data = self.data().display().to_string();
            let mut cmd = self.command("pg_ctl");
            cmd.args(["-D", &data, "-m", "immediate", "-w", "stop"]);
            // Nothing to do about a failure here; the directory goes anyway.
            let _ = cmd.output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The newest `/usr/lib/postgresql/<version>/bin` with `initdb` and
/// `pg_ctl`, else the first `PATH` entry with both.
fn find_bin_dir() -> Option<PathBuf> {
    let has_tools = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find(|d| has_tools(d))
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Creates `USER` unless it exists. Tests run in processes of their own,
/// and several may find the user missing at once: concurrent `useradd`s
/// were seen to leave the user created, gone and created again under
/// another uid, after one test had given its directory to the first uid
/// (its `initdb` then failed: permission denied). So the check and the
/// creation hold an exclusive lock on a file shared by every test process.
fn ensure_user() {
    let path = std::env::temp_dir().join("sb-pg-useradd.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("could not open {}: {e}", path.display()));
    lock.lock()
        .unwrap_or_else(|e| panic!("could not lock {}: {e}", path.display()));
    let exists = || {
        Command::new("id")
            .arg(USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    for _ in 0..50 {
        if exists() {
            return;
        }
        let out = run(Command::new("useradd").args(["-r", "-M", USER]));
        if out.status.success() || exists() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    check(
        &format!("useradd -r -M {USER}"),
        run(Command::new("useradd").args(["-r", "-M", USER])),
    );
}

/// A port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {cmd:?}: {e}"))
}

fn check(what: &str, out: Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

//! Everything a pool can show or store, gathered for one case so that a
//! secret can be looked for in all of it: events (a lossless channel), the
//! audit trail (an `AuditLog` in a temporary directory), tracing (the
//! process's subscriber and a `TracingLogger` at DEBUG, both writing to
//! buffers), and what the test adds (errors, `Debug` of the builder and the
//! handle, `Status`).

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use switchboard::Subscription;
use switchboard::{Bus, Delivery, Event, EventReceiver, Filter};
use switchboard_audit::AuditLog;
use switchboard_observe::TracingLogger;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::support::drain;

/// Text written by a tracing subscriber.
#[derive(Clone, Default)]
pub struct Printed(Arc<Mutex<Vec<u8>>>);

impl Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Printed {
    type Writer = Printed;
    fn make_writer(&self) -> Printed {
        self.clone()
    }
}

impl Printed {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// What every thread of this process logs through `tracing` (the pool's
/// own warnings, the bus's), at every level. Installed once per process;
/// cases look in it for their own sentinels only, so other tests' lines in
/// it do no harm.
fn process_log() -> &'static Printed {
    static LOG: OnceLock<Printed> = OnceLock::new();
    LOG.get_or_init(|| {
        let log = Printed::default();
        tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_max_level(LevelFilter::TRACE)
            .without_time()
            .finish()
            .try_init()
            .expect("no other test of this process sets a global tracing subscriber");
        log
    })
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bus a case's pool publishes on, with every output attached to it.
pub struct Witness {
    pub bus: Bus,
    rx: EventReceiver,
    audit: AuditLog,
    dir: TempDir,
    logger: Subscription,
    logged: Printed,
    /// Where the process log stood when the case started.
    log_from: usize,
    /// What the test adds (errors, Debug output, status).
    pub shown: Vec<String>,
}

impl Witness {
    /// Call from inside an actix System.
    pub fn new(case: &str) -> Self {
        let log_from = process_log().text().len();
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("sb-witness-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let bus = Bus::new();
        let rx = bus
            .subscribe_channel(case, Filter::all(), Delivery::lossless(4096))
            .unwrap();
        let audit = AuditLog::builder(&dir).open().unwrap();
        let _audited = audit.attach(&bus).unwrap();
        let logged = Printed::default();
        let logger = TracingLogger::new()
            .dispatch(
                tracing_subscriber::fmt()
                    .with_writer(logged.clone())
                    .with_max_level(LevelFilter::DEBUG)
                    .without_time()
                    .finish(),
            )
            .attach(&bus)
            .unwrap();
        Witness {
            bus,
            rx,
            audit,
            dir: TempDir(dir),
            logger,
            logged,
            log_from,
            shown: Vec::new(),
        }
    }

    /// Adds what the test saw (an error, a `Debug`, a status).
    pub fn saw(&mut self, what: impl Into<String>) {
        self.shown.push(what.into());
    }

    /// Waits for every subscriber, closes the audit log, and returns every
    /// event and every output as text (each named by where it came from).
    pub async fn finish(self) -> (Vec<Event>, Vec<(&'static str, String)>) {
        self.bus.flush(Duration::from_secs(10)).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.logger.stats().is_some_and(|s| s.queued > 0) {
            assert!(Instant::now() < deadline, "the logger never caught up");
            actix_rt::time::sleep(Duration::from_millis(2)).await;
        }
        let events = drain(&self.rx);
        self.audit.close(Duration::from_secs(10)).await.unwrap();
        let mut outputs = Vec::new();
        for entry in std::fs::read_dir(&self.dir.0).unwrap() {
            let path = entry.unwrap().path();
            outputs.push(("audit", std::fs::read_to_string(path).unwrap()));
        }
        for event in &events {
            outputs.push(("event JSON", event.to_json()));
            outputs.push(("event Display", event.to_string()));
            outputs.push(("event Debug", format!("{event:?}")));
        }
        outputs.push(("TracingLogger", self.logged.text()));
        outputs.push((
            "process log",
            process_log()
                .text()
                .get(self.log_from..)
                .unwrap_or_default()
                .to_owned(),
        ));
        outputs.extend(self.shown.into_iter().map(|s| ("shown", s)));
        (events, outputs)
    }
}

/// Where any of `secrets` shows in `outputs`.
pub fn leaks(outputs: &[(&'static str, String)], secrets: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for (source, text) in outputs {
        for secret in secrets {
            if let Some(at) = text.find(secret) {
                let from = text[..at]
                    .char_indices()
                    .rev()
                    .nth(80)
                    .map_or(0, |(i, _)| i);
                let to = (at + secret.len() + 40).min(text.len());
                let to = (to..=text.len())
                    .find(|&i| text.is_char_boundary(i))
                    .unwrap_or(text.len());
                found.push(format!("{source} shows {secret:?}: …{}…", &text[from..to]));
            }
        }
    }
    found
}

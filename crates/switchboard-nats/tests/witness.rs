//! An audit log whose checkpoints a JetStream stream witnesses: the stream
//! holds every checkpoint, a verifier compares them with the log's own, a
//! witness that was unreachable is caught up when the log opens again, and
//! checkpoints removed from the log's directory are found.
//!
//! Needs NATS with JetStream at `SWITCHBOARD_NATS_URL` (default
//! `nats://127.0.0.1:4222`): skipped loudly without it, a failure under
//! `SWITCHBOARD_REQUIRE_SERVICES=1`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchboard_audit::{
    Anchoring, AuditLog, Finding, SecretKey, VerifyError, VerifyOptions, verify_with,
};
use switchboard_core::testing::emit_statement;
use switchboard_core::{Backend, Bus, Emitter, Origin, StatementClass};
use switchboard_nats::{NatsWitness, StreamSettings};

const WAIT: Duration = Duration::from_secs(10);

/// The server's address, or `None` (after saying so) when it is not there.
fn nats(test: &str) -> Option<String> {
    let url =
        std::env::var("SWITCHBOARD_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let address = url.trim_start_matches("nats://").to_owned();
    if std::net::TcpStream::connect(&address).is_ok() {
        return Some(url);
    }
    if std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("NATS is not reachable at {url} and SWITCHBOARD_REQUIRE_SERVICES=1");
    }
    eprintln!("\n!!! SKIPPED {test}: NATS is not reachable at {url} (set SWITCHBOARD_NATS_URL)\n");
    None
}

/// A stream and a log directory of the test's own, removed at the end.
struct Place {
    url: String,
    stream: StreamSettings,
    prefix: String,
    dir: PathBuf,
}

impl Place {
    fn new(url: String, test: &str) -> Self {
        let unique = format!("sbwitness_{test}_{}", std::process::id());
        let dir = std::env::temp_dir().join(&unique);
        let _ = std::fs::remove_dir_all(&dir);
        Place {
            url,
            stream: StreamSettings::new(unique.to_uppercase(), [format!("{unique}.>")]),
            prefix: unique,
            dir,
        }
    }

    fn witness(&self, url: &str) -> NatsWitness {
        NatsWitness::new(url, self.stream.clone(), &self.prefix)
            .unwrap()
            .timeout(Duration::from_millis(500))
    }

    fn read(&self) -> Vec<Vec<u8>> {
        self.witness(&self.url).read("audit").unwrap()
    }

    fn verify(&self) -> Result<switchboard_audit::VerifyReport, VerifyError> {
        let files = switchboard_audit::files(&self.dir, "audit").unwrap();
        let options = VerifyOptions::default()
            .key(key().public())
            .witness_lines("nats", self.read());
        verify_with(&files, options)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let (url, name) = (self.url.clone(), self.stream.name.clone());
        let rt = runtime();
        rt.block_on(async {
            if let Ok(client) = async_nats::connect(url).await {
                let _ = async_nats::jetstream::new(client).delete_stream(name).await;
            }
        });
    }
}

/// `nats://127.0.0.1:<port>` of a port that was free a moment ago: connects
/// are refused, as when the server is down.
fn nowhere() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    format!("nats://127.0.0.1:{port}")
}

fn key() -> SecretKey {
    SecretKey::from_bytes(&[0x3c; 32])
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Opens a signed log in `dir` witnessed by `witness`, records
/// `statements`, waits until `until` holds of its stats, and closes it.
fn run_log(
    dir: &Path,
    witness: NatsWitness,
    statements: u64,
    until: impl Fn(&switchboard_audit::AuditStats) -> bool,
) {
    runtime().block_on(async {
        let log = AuditLog::builder(dir)
            .sign_checkpoints(key())
            .checkpoint_every(Duration::from_millis(20), 1_000)
            .witness(witness)
            .open()
            .unwrap();
        let bus = Bus::new();
        let _audited = log.attach(&bus).unwrap();
        let emitter = Emitter::new(bus, Arc::from("app"), Backend::Sqlite, 1);
        for query_id in 0..statements {
            let sql = Arc::from(format!("INSERT INTO t (id) VALUES ({query_id})"));
            emit_statement(
                &emitter,
                query_id,
                &sql,
                StatementClass::Write,
                Origin::Execute,
            );
        }
        log.flush(WAIT).await.unwrap();
        let deadline = Instant::now() + WAIT;
        while !until(&log.stats()) {
            assert!(Instant::now() < deadline, "{:?}", log.stats());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        log.close(WAIT).await.unwrap();
    });
}

#[test]
fn a_stream_witnesses_every_checkpoint_and_catches_up_after_an_outage() {
    let Some(url) = nats("catch_up") else { return };
    let place = Place::new(url.clone(), "catch_up");
    // The witness is unreachable: the log runs anyway, counting failures.
    let down = place.witness(&nowhere());
    run_log(&place.dir, down, 5, |s| {
        s.witness_errors > 0 && s.checkpoints >= 2
    });
    // Nothing reached the server: not even the stream exists.
    let read = place.witness(&url).read("audit");
    assert!(
        read.as_ref()
            .is_err_and(|e| e.to_string().contains("stream not found")),
        "{read:?}"
    );

    // Reachable again at the next start: everything is sent.
    run_log(&place.dir, place.witness(&url), 5, |s| {
        s.witness_behind == 0
    });
    let report = place.verify().unwrap();
    let Anchoring::Signed(anchored) = &report.anchoring else {
        panic!("{report}")
    };
    assert_eq!(report.records, 20);
    let witness = anchored.witness.as_ref().unwrap();
    assert_eq!(witness.behind, 0, "{report}");
    assert_eq!(witness.checkpoints, anchored.checkpoints, "{report}");

    // The newest checkpoints removed from the log's directory, and the
    // records they covered: the stream still has them.
    let local = switchboard_audit::checkpoint::path(&place.dir, "audit");
    let text = std::fs::read_to_string(&local).unwrap();
    let first: String = text.lines().next().unwrap().to_owned() + "\n";
    std::fs::write(&local, first).unwrap();
    for file in switchboard_audit::files(&place.dir, "audit").unwrap() {
        std::fs::write(file, b"").unwrap();
    }
    match place.verify() {
        Err(VerifyError::Tampered(t)) => {
            assert!(matches!(t.finding, Finding::Truncated { .. }), "{t}")
        }
        other => panic!("expected tampering, got {other:?}"),
    }
}

//! `switchboard audit verify` and `keygen`, run as a user runs them on the
//! files an audit log wrote: exit 0 and `ok: N records` when intact, 1 and
//! what was tampered with when not, 2 when a file cannot be read, 3 when
//! more records than allowed follow the last signed checkpoint.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use switchboard_audit::{AuditLog, SecretKey};
use switchboard_core::testing::emit_statement;
use switchboard_core::{Backend, Bus, Emitter, Origin, StatementClass};
use switchboard_nats::{NatsWitness, StreamSettings};
use tempfile::TempDir;

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn switchboard(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .output()
        .expect("the binary runs");
    Run {
        status: out.status.code().expect("exited"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// An audit log of `statements` INSERTs (two records each) in `dir`.
fn audit_log(dir: &Path, statements: u64) -> Vec<PathBuf> {
    signed_log(dir, statements, None, None)
}

/// The same, its checkpoints signed with `key` and copied to `witness`.
fn signed_log(
    dir: &Path,
    statements: u64,
    key: Option<&Path>,
    witness: Option<&Path>,
) -> Vec<PathBuf> {
    witnessed_log(dir, statements, key, witness, None)
}

/// The same, also witnessed by `nats`.
fn witnessed_log(
    dir: &Path,
    statements: u64,
    key: Option<&Path>,
    witness: Option<&Path>,
    nats: Option<NatsWitness>,
) -> Vec<PathBuf> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut builder = AuditLog::builder(dir).rotate_at_size(1_000);
        if let Some(key) = key {
            builder = builder.sign_checkpoints(SecretKey::read(key).unwrap());
        }
        if let Some(witness) = witness {
            builder = builder.witness_dir(witness);
        }
        if let Some(nats) = nats {
            builder = builder.witness(nats);
        }
        let audit = builder.open().unwrap();
        let bus = Bus::new();
        let _audited = audit.attach(&bus).unwrap();
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
        audit.close(Duration::from_secs(10)).await.unwrap();
    });
    switchboard_audit::files(dir, "audit").unwrap()
}

fn paths(files: &[PathBuf]) -> Vec<&str> {
    files.iter().map(|f| f.to_str().unwrap()).collect()
}

#[test]
fn an_intact_log_is_ok_with_its_record_count() {
    let dir = TempDir::new().unwrap();
    let files = audit_log(dir.path(), 10);
    assert!(files.len() > 1, "rotated into several files");
    let mut args = vec!["audit", "verify"];
    args.extend(paths(&files));
    let run = switchboard(&args);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("ok: 20 records"), "{}", run.stdout);
}

#[test]
fn a_directory_stands_for_its_files() {
    let dir = TempDir::new().unwrap();
    audit_log(dir.path(), 3);
    let run = switchboard(&["audit", "verify", dir.path().to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("ok: 6 records"), "{}", run.stdout);
}

#[test]
fn an_edited_record_is_reported_with_its_file_and_line() {
    let dir = TempDir::new().unwrap();
    let files = audit_log(dir.path(), 1);
    let text = std::fs::read_to_string(&files[0]).unwrap();
    std::fs::write(&files[0], text.replacen("\"rows\":1", "\"rows\":9", 1)).unwrap();
    let run = switchboard(&["audit", "verify", files[0].to_str().unwrap()]);
    assert_eq!(run.status, 1);
    let expected = format!("broken: {}:2 (event id ", files[0].display());
    assert!(run.stdout.starts_with(&expected), "{}", run.stdout);
    assert!(run.stdout.contains("was edited"), "{}", run.stdout);
}

#[test]
fn a_missing_file_in_the_middle_breaks_the_chain() {
    let dir = TempDir::new().unwrap();
    let mut files = audit_log(dir.path(), 10);
    files.remove(1);
    let mut args = vec!["audit", "verify"];
    args.extend(paths(&files));
    let run = switchboard(&args);
    assert_eq!(run.status, 1);
    assert!(run.stdout.contains("missing"), "{}", run.stdout);
}

#[test]
fn a_torn_tail_is_ok_and_said_apart() {
    let dir = TempDir::new().unwrap();
    let files = audit_log(dir.path(), 2);
    let last = files.last().unwrap();
    let mut bytes = std::fs::read(last).unwrap();
    bytes.extend_from_slice(b"{\"n\":4,\"prev\":");
    std::fs::write(last, bytes).unwrap();
    let run = switchboard(&["audit", "verify", dir.path().to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stdout);
    assert!(run.stdout.contains("torn tail"), "{}", run.stdout);
}

#[test]
fn an_unreadable_file_or_no_file_is_a_usage_error() {
    let run = switchboard(&["audit", "verify", "/nonexistent/audit.000001.jsonl"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.starts_with("switchboard: could not read"),
        "{}",
        run.stderr
    );
    assert_eq!(switchboard(&["audit", "verify"]).status, 2);
}

/// A key pair made by `keygen` in `dir`: (secret, public).
fn keygen(dir: &Path) -> (PathBuf, PathBuf) {
    let secret = dir.join("audit-key");
    let run = switchboard(&["audit", "keygen", secret.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("key id "), "{}", run.stdout);
    (secret.clone(), dir.join("audit-key.pub"))
}

#[test]
fn keygen_writes_a_pair_and_never_overwrites() {
    let dir = TempDir::new().unwrap();
    let (secret, public) = keygen(dir.path());
    let key = SecretKey::read(&secret).unwrap();
    assert_eq!(
        switchboard_audit::PublicKey::read(&public).unwrap(),
        key.public()
    );
    let again = switchboard(&["audit", "keygen", secret.to_str().unwrap()]);
    assert_eq!(again.status, 2);
    assert_eq!(SecretKey::read(&secret).unwrap(), key);
}

#[test]
fn a_signed_log_verifies_with_its_key_and_witness() {
    let (keys, log, witness) = (
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
        TempDir::new().unwrap(),
    );
    let (secret, public) = keygen(keys.path());
    signed_log(log.path(), 10, Some(&secret), Some(witness.path()));
    let (log_dir, public, witness_dir) = (
        log.path().to_str().unwrap(),
        public.to_str().unwrap(),
        witness.path().to_str().unwrap(),
    );
    let run = switchboard(&[
        "audit",
        "verify",
        log_dir,
        "--key",
        public,
        "--witness",
        witness_dir,
    ]);
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.starts_with("ok: 20 records"), "{}", run.stdout);
    assert!(run.stdout.contains("\nanchored: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("identical to the log's"),
        "{}",
        run.stdout
    );
    // Without the key: the chain only, said to be unanchored.
    let run = switchboard(&["audit", "verify", log_dir]);
    assert_eq!(run.status, 0);
    assert!(
        run.stdout.contains("unanchored: no key given"),
        "{}",
        run.stdout
    );
    // A secret key where a public one belongs is a usage error.
    let secret = secret.to_str().unwrap();
    assert_eq!(
        switchboard(&["audit", "verify", log_dir, "--key", secret]).status,
        2
    );
}

#[test]
fn a_truncated_signed_log_is_tampered_and_exits_1() {
    let (keys, log) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (secret, public) = keygen(keys.path());
    let files = signed_log(log.path(), 10, Some(&secret), None);
    std::fs::remove_file(files.last().unwrap()).unwrap();
    let log_dir = log.path().to_str().unwrap();
    assert_eq!(
        switchboard(&["audit", "verify", log_dir]).status,
        0,
        "the chain alone misses it"
    );
    let run = switchboard(&[
        "audit",
        "verify",
        log_dir,
        "--key",
        public.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.stdout.starts_with("tampered: "), "{}", run.stdout);
    assert!(
        run.stdout.contains("truncated: checkpoint"),
        "{}",
        run.stdout
    );
}

#[test]
fn unanchored_records_past_the_limit_exit_3() {
    let (keys, log) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (secret, public) = keygen(keys.path());
    signed_log(log.path(), 3, Some(&secret), None);
    // What a crash leaves: the records, not the closing checkpoint.
    let local = log.path().join("audit.checkpoints.jsonl");
    let text = std::fs::read_to_string(&local).unwrap();
    let kept: Vec<&str> = text.lines().collect();
    std::fs::write(&local, format!("{}\n", kept[0])).unwrap();
    let (log_dir, public) = (log.path().to_str().unwrap(), public.to_str().unwrap());
    let run = switchboard(&["audit", "verify", log_dir, "--key", public]);
    assert_eq!(run.status, 0, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("unanchored: 6 records after the latest checkpoint, the oldest recorded at"),
        "{}",
        run.stdout
    );
    let args = [
        "audit",
        "verify",
        log_dir,
        "--key",
        public,
        "--max-unanchored",
        "5",
    ];
    let run = switchboard(&args);
    assert_eq!(run.status, 3, "{}", run.stdout);
    assert!(
        run.stdout.contains("past the limit: 6 unanchored records"),
        "{}",
        run.stdout
    );
    assert_eq!(
        switchboard(&[
            "audit",
            "verify",
            log_dir,
            "--key",
            public,
            "--max-unanchored",
            "6"
        ])
        .status,
        0
    );
    let args = [
        "audit",
        "verify",
        log_dir,
        "--key",
        public,
        "--max-unanchored-age",
        "3600",
    ];
    assert_eq!(switchboard(&args).status, 0);
}

#[test]
fn a_nats_witness_is_read_by_verify() {
    let url =
        std::env::var("SWITCHBOARD_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let server = url.trim_start_matches("nats://").to_owned();
    if std::net::TcpStream::connect(&server).is_err() {
        if std::env::var("SWITCHBOARD_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("NATS is not reachable at {url} and SWITCHBOARD_REQUIRE_SERVICES=1");
        }
        eprintln!(
            "\n!!! SKIPPED a_nats_witness_is_read_by_verify: NATS is not reachable at {url}\n"
        );
        return;
    }
    let (keys, log) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let (secret, public) = keygen(keys.path());
    let unique = format!("sbcli_witness_{}", std::process::id());
    let stream = unique.to_uppercase();
    let settings = StreamSettings::new(&stream, [format!("{unique}.>")]);
    let nats = NatsWitness::new(&url, settings, &unique).unwrap();
    witnessed_log(log.path(), 4, Some(&secret), None, Some(nats));
    let spec = format!("nats://{server}/{stream}/{unique}");
    let (log_dir, public) = (log.path().to_str().unwrap(), public.to_str().unwrap());
    let run = switchboard(&[
        "audit",
        "verify",
        log_dir,
        "--key",
        public,
        "--witness",
        &spec,
    ]);
    // Removing the newest checkpoints and records leaves the witness's.
    let local = log.path().join("audit.checkpoints.jsonl");
    let text = std::fs::read_to_string(&local).unwrap();
    std::fs::write(&local, format!("{}\n", text.lines().next().unwrap())).unwrap();
    for file in switchboard_audit::files(log.path(), "audit").unwrap() {
        std::fs::write(file, b"").unwrap();
    }
    let cut = switchboard(&[
        "audit",
        "verify",
        log_dir,
        "--key",
        public,
        "--witness",
        &spec,
    ]);
    let bad = switchboard(&[
        "audit",
        "verify",
        log_dir,
        "--key",
        public,
        "--witness",
        "nats://x",
    ]);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            if let Ok(client) = async_nats::connect(&url).await {
                let _ = async_nats::jetstream::new(client)
                    .delete_stream(&stream)
                    .await;
            }
        });
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("identical to the log's"),
        "{}",
        run.stdout
    );
    assert_eq!(cut.status, 1, "{}{}", cut.stdout, cut.stderr);
    assert!(cut.stdout.contains("truncated"), "{}", cut.stdout);
    assert_eq!(bad.status, 2, "{}", bad.stdout);
}

//! `switchboard audit verify`, run as a user runs it on the files an audit
//! log wrote: exit 0 and `ok: N records` when intact, 1 and the first broken
//! record when not, 2 when a file cannot be read.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use switchboard_audit::AuditLog;
use switchboard_core::testing::emit_statement;
use switchboard_core::{Backend, Bus, Emitter, Origin, StatementClass};
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let audit = AuditLog::builder(dir).rotate_at_size(1_000).open().unwrap();
        let bus = Bus::new();
        audit.attach(&bus).unwrap();
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

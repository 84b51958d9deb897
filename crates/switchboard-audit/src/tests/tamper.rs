//! Editing, deleting or reordering any record makes verify fail at that
//! record; a torn tail is not tampering.

use std::io::Write;
use std::path::PathBuf;

use super::{TempDir, written_log};
use crate::chain::seal;
use crate::{AuditLog, Problem, VerifyError, VerifyOptions, verify, verify_with};

/// A closed log of one file with 2 records per statement.
fn one_file(test: &str, statements: i64) -> (TempDir, PathBuf) {
    let dir = TempDir::new(test);
    let files = written_log(&dir, statements, AuditLog::builder(dir.path()));
    assert_eq!(files.len(), 1);
    let file = files[0].clone();
    (dir, file)
}

fn read_lines(file: &PathBuf) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(file).unwrap();
    bytes
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

fn write_lines(file: &PathBuf, lines: &[Vec<u8>]) {
    std::fs::write(file, lines.concat()).unwrap();
}

fn broken_at<P: AsRef<std::path::Path>>(files: &[P]) -> (u64, Problem) {
    match verify(files) {
        Err(VerifyError::Broken(b)) => (b.line, b.problem),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn an_untouched_log_verifies() {
    let (_dir, file) = one_file("untouched", 50);
    let report = verify(&[&file]).unwrap();
    assert_eq!(report.records, 100);
    assert_eq!(report.head.next, 100);
    assert!(report.torn.is_empty());
    assert_eq!(
        report
            .to_string()
            .lines()
            .next()
            .unwrap()
            .split(" (")
            .next(),
        Some("ok: 100 records")
    );
}

#[test]
fn editing_any_record_fails_at_that_record() {
    let (_dir, file) = one_file("edit", 10);
    let original = read_lines(&file);
    for k in 0..original.len() {
        let mut lines = original.clone();
        // "rows":1 becomes "rows":2, or a digit of the SQL changes.
        let at = lines[k].iter().position(|b| b.is_ascii_digit()).unwrap();
        lines[k][at] = if lines[k][at] == b'9' {
            b'8'
        } else {
            lines[k][at] + 1
        };
        write_lines(&file, &lines);
        let (line, problem) = broken_at(std::slice::from_ref(&file));
        assert_eq!(line, k as u64 + 1, "edit of record {k}");
        assert!(matches!(problem, Problem::Edited { .. }), "{problem:?}");
    }
}

#[test]
fn an_edit_that_recomputes_the_hash_breaks_the_link_to_the_next_record() {
    let (_dir, file) = one_file("reseal", 5);
    let mut lines = read_lines(&file);
    let k = 3;
    let text = String::from_utf8(lines[k].clone()).unwrap();
    let body = &text[..text.find(",\"hash\":").unwrap()];
    let forged = body
        .replace("\"rows\":1", "\"rows\":0")
        .replace("INSERT", "UPSERT");
    assert_ne!(forged, body);
    let mut resealed = format!("{forged}}}").into_bytes();
    seal(&mut resealed, 0);
    lines[k] = resealed;
    write_lines(&file, &lines);
    let (line, problem) = broken_at(&[file]);
    assert_eq!(line, k as u64 + 2);
    assert!(matches!(problem, Problem::Unlinked { .. }), "{problem:?}");
}

#[test]
fn deleting_a_record_fails_at_the_record_after_it() {
    let (_dir, file) = one_file("delete", 10);
    let original = read_lines(&file);
    for k in 1..original.len() - 1 {
        let mut lines = original.clone();
        lines.remove(k);
        write_lines(&file, &lines);
        let (line, problem) = broken_at(std::slice::from_ref(&file));
        assert_eq!(line, k as u64 + 1);
        assert_eq!(
            problem,
            Problem::OutOfOrder {
                expected: k as u64,
                found: k as u64 + 1
            }
        );
    }
}

#[test]
fn deleting_the_first_record_fails_unless_the_chain_may_start_late() {
    let (_dir, file) = one_file("delete-first", 3);
    let mut lines = read_lines(&file);
    lines.remove(0);
    write_lines(&file, &lines);
    let (line, problem) = broken_at(std::slice::from_ref(&file));
    assert_eq!(line, 1);
    assert!(matches!(
        problem,
        Problem::OutOfOrder {
            expected: 0,
            found: 1
        }
    ));
    let partial = VerifyOptions::default().allow_partial(true);
    assert_eq!(verify_with(&[file], partial).unwrap().records, 5);
}

#[test]
fn swapping_two_records_fails_at_the_first_of_them() {
    let (_dir, file) = one_file("swap", 10);
    let mut lines = read_lines(&file);
    lines.swap(4, 7);
    write_lines(&file, &lines);
    let (line, problem) = broken_at(&[file]);
    assert_eq!(line, 5);
    assert_eq!(
        problem,
        Problem::OutOfOrder {
            expected: 4,
            found: 7
        }
    );
}

#[test]
fn a_line_of_garbage_is_unsealed() {
    let (_dir, file) = one_file("garbage", 3);
    let mut lines = read_lines(&file);
    lines.insert(2, b"{\"n\":2}\n".to_vec());
    write_lines(&file, &lines);
    assert_eq!(broken_at(&[file]), (3, Problem::Unsealed));
}

#[test]
fn a_torn_tail_is_reported_apart_from_tampering() {
    let (_dir, file) = one_file("torn", 4);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap();
    f.write_all(b"{\"n\":8,\"prev\":\"ab").unwrap();
    let report = verify(&[&file]).unwrap();
    assert_eq!(report.records, 8);
    assert_eq!(report.torn.len(), 1);
    assert_eq!(report.torn[0].line, 9);
    assert_eq!(report.torn[0].bytes, 17);
    assert!(report.to_string().contains("torn tail"), "{report}");
    assert!(
        report.to_string().contains("\nunanchored: no key given"),
        "{report}"
    );
}

#[test]
fn a_line_without_newline_is_tampering_unless_it_ends_the_newest_file() {
    let dir = TempDir::new("no-newline");
    let files = written_log(
        &dir,
        20,
        AuditLog::builder(dir.path()).rotate_at_size(2_000),
    );
    assert!(files.len() > 2);
    // A torn-looking end of an older file.
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes.extend_from_slice(b"{\"n\":99,\"prev\":\"ab");
    std::fs::write(&files[0], &bytes).unwrap();
    let (_, problem) = broken_at(&files);
    assert_eq!(problem, Problem::MissingNewline);
}

#[test]
fn a_complete_record_without_newline_is_tampering_even_at_the_end() {
    let (_dir, file) = one_file("unterminated", 3);
    // The last record's newline removed: an edit of the last record, or a
    // forged one appended without its newline, reads the same.
    let mut bytes = std::fs::read(&file).unwrap();
    bytes.pop();
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(broken_at(&[&file]), (6, Problem::UnterminatedRecord));

    // A sealed, correctly chained record in the middle, newline missing.
    let mut lines = read_lines(&file);
    lines.last_mut().unwrap().push(b'\n');
    let mut forged = lines.remove(3);
    forged.pop();
    lines.insert(3, forged);
    write_lines(&file, &lines);
    let (line, _) = broken_at(&[&file]);
    assert_eq!(line, 4, "the forged line and the next read as one");
}

#[test]
fn an_upper_case_hash_is_an_edit() {
    let (_dir, file) = one_file("upper", 3);
    let mut lines = read_lines(&file);
    let text = String::from_utf8(lines[2].clone()).unwrap();
    let at = text.rfind("\"hash\":\"").unwrap() + 8;
    lines[2] = format!("{}{}", &text[..at], text[at..].to_uppercase()).into_bytes();
    assert_ne!(lines[2], text.as_bytes());
    write_lines(&file, &lines);
    assert_eq!(broken_at(&[&file]), (3, Problem::NotCanonical));
}

#[test]
fn the_broken_report_names_file_line_and_event() {
    let (_dir, file) = one_file("report", 3);
    let mut lines = read_lines(&file);
    lines.swap(1, 2);
    write_lines(&file, &lines);
    let err = verify(&[&file]).unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("broken: {}:2 (event id ", file.display())),
        "{text}"
    );
    assert!(text.contains("n=2 where n=1 was expected"), "{text}");
}

#[test]
fn no_files_and_missing_files_are_errors_not_verdicts() {
    assert!(matches!(verify::<PathBuf>(&[]), Err(VerifyError::NoFiles)));
    let missing = PathBuf::from("/nonexistent/audit.000001.jsonl");
    assert!(matches!(verify(&[missing]), Err(VerifyError::Io { .. })));
}

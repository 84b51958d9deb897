//! A signed log that is intact, through key rotation, a witness outage,
//! its checkpoint interval and a crash.

use super::*;

#[test]
fn a_key_rotated_mid_log_verifies_with_both_keys() {
    let s = Signed::new("anchored-rotation");
    s.write(3, key_a());
    s.write(3, key_b());
    let report = s.witnessed(&[&key_a(), &key_b()]).unwrap();
    let mut both = vec![key_a().id(), key_b().id()];
    both.sort();
    assert_eq!(anchored(&report).keys, both);
    assert_eq!(report.records, 12);
    let found = finding(s.alone(&[&key_b()]));
    assert!(
        matches!(found, Finding::UnknownKey { seq: 0, .. }),
        "{found:?}"
    );
}

#[test]
fn a_witness_down_for_a_while_is_caught_up() {
    let s = Signed::new("anchored-witness-down");
    let down = s.witness.path().join("mount");
    let builder = AuditLog::builder(s.log.path())
        .sign_checkpoints(key_a())
        .checkpoint_every(Duration::from_millis(20), 1_000)
        .witness_dir(&down);
    block_on(async {
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        for i in 0..3 {
            conn.write(i).await.unwrap();
        }
        log.flush(WAIT).await.unwrap();
        let deadline = Instant::now() + WAIT;
        while log.stats().witness_errors == 0 || log.stats().checkpoints < 2 {
            assert!(Instant::now() < deadline, "{:?}", log.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(log.stats().witness_behind >= 2, "{:?}", log.stats());
        // The mount is back.
        std::fs::create_dir(&down).unwrap();
        conn.write(3).await.unwrap();
        log.flush(WAIT).await.unwrap();
        while log.stats().witness_behind > 0 {
            assert!(Instant::now() < deadline, "{:?}", log.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        log.close(WAIT).await.unwrap();
    });
    let report = verify_with(
        &s.files(),
        VerifyOptions::default()
            .key(key_a().public())
            .witness(&down),
    )
    .unwrap();
    let a = anchored(&report);
    assert_eq!(a.witness.as_ref().unwrap().behind, 0, "{report}");
    assert_eq!(a.unanchored, 0);
}

#[test]
fn records_wait_for_a_checkpoint_at_most_the_interval() {
    let s = Signed::new("anchored-interval");
    let builder = s
        .builder(key_a())
        .checkpoint_every(Duration::from_millis(30), 1_000_000);
    block_on(async {
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        for i in 0..5 {
            conn.write(i).await.unwrap();
        }
        log.flush(WAIT).await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let a = s.alone(&[&key_a()]).unwrap();
            if anchored(&a).unanchored == 0 {
                assert_eq!(a.records, 10);
                break;
            }
            assert!(Instant::now() < deadline, "never anchored: {a}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        log.close(WAIT).await.unwrap();
    });
}

#[test]
fn after_a_crash_the_reopened_log_anchors_what_survived() {
    let s = Signed::new("anchored-crash");
    let files = s.write(3, key_a());
    // What a crash mid-write leaves: a torn record, and no close checkpoint
    // (here or at the witness).
    let witness = checkpoint::path(s.witness.path(), "audit");
    for file in [s.local(), witness] {
        let lines = lines_of(&file);
        std::fs::write(&file, lines[..lines.len() - 1].concat()).unwrap();
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&files[0])
        .unwrap();
    f.write_all(b"{\"n\":6,\"prev\":\"ab").unwrap();
    drop(f);
    let report = s.alone(&[&key_a()]).unwrap();
    assert_eq!(report.torn.len(), 1);
    s.write(1, key_a());
    let report = s.witnessed(&[&key_a()]).unwrap();
    let a = anchored(&report);
    assert!(report.torn.is_empty());
    assert_eq!((report.records, a.unanchored), (8, 0));
    assert_eq!(a.moved_aside.len(), 1, "{report}");
    assert!(
        report.to_string().contains("moved aside: 17 torn bytes"),
        "{report}"
    );
}

#[test]
fn a_signed_log_cut_short_refuses_to_open_and_needs_its_key() {
    let s = Signed::new("anchored-open");
    let files = s.write(3, key_a());
    let lines = lines_of(&files[0]);
    std::fs::write(&files[0], lines[..4].concat()).unwrap();
    let err = s.builder(key_a()).open().unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("truncated or rewritten"), "{err}");
    std::fs::write(&files[0], lines.concat()).unwrap();
    let err = AuditLog::builder(s.log.path()).open().unwrap_err();
    assert!(
        err.to_string().contains("no signing key was given"),
        "{err}"
    );
    let inside = AuditLog::builder(s.log.path())
        .sign_checkpoints(key_a())
        .witness_dir(s.log.path().join("w"));
    std::fs::create_dir(s.log.path().join("w")).unwrap();
    assert!(matches!(inside.open(), Err(AuditError::Config(_))));
}

#[test]
fn checkpoints_name_why_they_were_written() {
    let s = Signed::new("anchored-why");
    written_log(&s.log, 20, s.builder(key_a()).rotate_at_size(2_000));
    let whys: Vec<Why> = lines_of(&s.local())
        .iter()
        .map(|l| {
            SignedCheckpoint::parse(&l[..l.len() - 1])
                .unwrap()
                .checkpoint
                .why
        })
        .collect();
    assert_eq!(whys.first(), Some(&Why::Open));
    assert_eq!(whys.last(), Some(&Why::Close));
    assert!(whys.contains(&Why::Rotation), "{whys:?}");
    assert_eq!(
        lines_of(&s.local()),
        lines_of(&checkpoint::path(s.witness.path(), "audit"))
    );
}

#[test]
fn a_log_never_signed_is_wholly_unanchored_under_a_key() {
    let s = Signed::new("anchored-never");
    written_log(&s.log, 2, AuditLog::builder(s.log.path()));
    let report = s.alone(&[&key_a()]).unwrap();
    let a = anchored(&report);
    assert!(a.latest.is_none());
    assert_eq!(a.unanchored, 4);
    assert!(a.oldest_unanchored.is_some(), "{report}");
    assert!(
        report.to_string().contains("no signed checkpoint found"),
        "{report}"
    );
}

#[test]
fn a_monitor_reads_and_verifies_the_log_it_does_not_own_and_finds_a_cut() {
    let s = Signed::new("anchored-monitor");
    let monitor = block_on(async {
        let (log, bus) = attached(s.builder(key_a()));
        let monitor = log.monitor();
        assert!(monitor.signed());
        let conn = Conn::new(&bus, 1);
        for i in 0..5 {
            conn.write(i).await.unwrap();
        }
        log.flush(WAIT).await.unwrap();
        // 10 events (Executing, Executed per statement), recorded.
        assert_eq!(monitor.stats().records, 10);
        let live = monitor.verify().unwrap();
        assert_eq!(live.records, 10);
        log.close(WAIT).await.unwrap();
        monitor
    });
    // After the log closed: its checkpoints now cover every record.
    let closed = monitor.verify().unwrap();
    assert_eq!((closed.records, anchored(&closed).unanchored), (10, 0));
    // The log cut short behind the monitor's back: found.
    let file = s.files().pop().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    let cut = bytes[..bytes.len() - 1]
        .rsplitn(2, |b| *b == b'\n')
        .nth(1)
        .unwrap();
    std::fs::write(&file, [cut, b"\n"].concat()).unwrap();
    assert!(monitor.verify().is_err());
}

//! Strict durability: a statement runs only once its `Executing` record is
//! on disk, statements waiting together share an fsync, and one that waits
//! too long is refused.

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Error, Event, Kind, Params, Payload, StatementClass};
use tokio::task::JoinSet;

use super::{Conn, End, TempDir, WAIT, attached, block_on, lines, records};
use crate::{AuditLog, Durability, Record};

#[test]
fn a_strict_statement_runs_only_after_its_record_is_written_and_synced() {
    let dir = TempDir::new("strict");
    block_on(async {
        let (log, bus) = attached(AuditLog::builder(dir.path()));
        let conn = Conn::new(&bus, 1);
        let q = conn
            .run(
                "CREATE TABLE t (a INT)",
                StatementClass::Ddl,
                Params::none(),
                End::Runs,
            )
            .await
            .unwrap();
        // Passed the gate: the record is in the file already, and synced.
        let on_disk: Vec<Record> = lines(dir.path())
            .iter()
            .map(|l| Record::parse(l).unwrap())
            .collect();
        assert!(
            on_disk
                .iter()
                .any(|r| r.kind == Kind::Executing && r.query_id == Some(q))
        );
        let stats = log.stats();
        assert!(stats.fsyncs >= 1);
        assert_eq!(stats.held, 1);

        // A write is batched by default: not held.
        conn.write(1).await.unwrap();
        assert_eq!(log.stats().held, 1);
        log.close(WAIT).await.unwrap();
    });
}

#[test]
fn strict_statements_waiting_together_share_one_fsync() {
    let dir = TempDir::new("group");
    let (tasks, each) = (8, 40);
    block_on(async {
        let builder = AuditLog::builder(dir.path()).durability_all(Durability::Strict);
        let (log, bus) = attached(builder);
        let mut set = JoinSet::new();
        for t in 0..tasks {
            let conn = Conn::new(&bus, t + 1);
            set.spawn(async move {
                for i in 0..each {
                    conn.write((t * 1000 + i) as i64).await.unwrap();
                }
            });
        }
        while let Some(done) = set.join_next().await {
            done.unwrap();
        }
        let stats = log.stats();
        assert_eq!(stats.held, tasks * each);
        assert!(
            stats.fsyncs < stats.held / 2,
            "{} fsyncs for {} held statements",
            stats.fsyncs,
            stats.held
        );
        assert_eq!(log.handshake_sizes(), (0, 0));
        log.close(WAIT).await.unwrap();
    });
    assert_eq!(records(dir.path()).len() as u64, 2 * tasks * each);
}

#[test]
fn held_statements_that_never_ask_leave_nothing_behind() {
    let dir = TempDir::new("unasked");
    block_on(async {
        let (log, bus) = attached(AuditLog::builder(dir.path()));
        let conn = Conn::new(&bus, 1);
        for _ in 0..20 {
            conn.run(
                "DROP TABLE t",
                StatementClass::Ddl,
                Params::none(),
                End::Denied,
            )
            .await
            .unwrap();
        }
        log.flush(WAIT).await.unwrap();
        assert_eq!(log.handshake_sizes(), (0, 0));
        log.close(WAIT).await.unwrap();
    });
}

#[test]
fn a_record_not_durable_within_the_deadline_refuses_the_statement() {
    let dir = TempDir::new("deadline");
    // Not attached: the event never reaches the writer.
    let log = AuditLog::builder(dir.path())
        .strict_deadline(Duration::from_millis(30))
        .open()
        .unwrap();
    let bus = switchboard_core::Bus::new();
    let emitter =
        switchboard_core::Emitter::new(bus, Arc::from("p"), switchboard_core::Backend::Sqlite, 1);
    let event: Event = emitter.publish(Payload::Executing {
        query_id: 1,
        sql: Arc::from("DROP TABLE t"),
        params: Params::none(),
        class: StatementClass::Ddl,
        origin: switchboard_core::Origin::Execute,
    });
    let gate = log.gate();
    assert!(gate.holds(&event));
    let err = block_on(gate.pass(&event)).unwrap_err();
    assert!(
        matches!(&err, Error::NotDurable { gate, .. } if gate == "audit"),
        "{err}"
    );
    assert!(err.to_string().contains("strict deadline of 30ms"), "{err}");
    assert_eq!(log.handshake_sizes(), (0, 0));
}

//! The logger allocates nothing of its own per statement: with it
//! attached, a statement's events cost what publishing them costs (the
//! event itself), whether its lines are written or filtered out.

use std::alloc::System;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use switchboard_core::testing::emit_statement;
use switchboard_core::{Backend, Bus, Emitter, Origin, StatementClass};
use switchboard_observe::TracingLogger;
use tracing::Level;
use tracing_subscriber::fmt::MakeWriter;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// A log sink that only counts lines, without allocating.
#[derive(Clone, Default)]
struct Lines(Arc<AtomicUsize>);

impl io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let lines = buf.iter().filter(|b| **b == b'\n').count();
        self.0.fetch_add(lines, Ordering::Relaxed);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Lines {
    type Writer = Lines;
    fn make_writer(&self) -> Lines {
        self.clone()
    }
}

const STATEMENTS: usize = 2_000;

/// Allocations per statement, once warm, with the logger at `level`.
fn allocations_per_statement(level: Level) -> f64 {
    let lines = Lines::default();
    let sink = tracing_subscriber::fmt()
        .with_writer(lines.clone())
        .with_max_level(level)
        .finish();
    let bus = Bus::new();
    let logger = TracingLogger::new()
        .capacity(2 * STATEMENTS + 8)
        .dispatch(sink)
        .attach(&bus)
        .expect("attach");
    let emitter = Emitter::new(bus, Arc::from("shop"), Backend::Postgres, 1);
    let sql: Arc<str> = Arc::from("SELECT id, name FROM users WHERE id = $1");
    let run = |from: usize, to: usize| {
        for query_id in from..to {
            emit_statement(
                &emitter,
                query_id as u64,
                &sql,
                StatementClass::Read,
                Origin::Load,
            );
        }
        // Every statement logs one INFO line (and one DEBUG line at DEBUG).
        let per = if level == Level::DEBUG { 2 } else { 1 };
        while lines.0.load(Ordering::Relaxed) < to * per {
            std::thread::yield_now();
        }
    };
    run(0, 100);
    let region = Region::new(GLOBAL);
    run(100, 100 + STATEMENTS);
    let allocations = region.change().allocations;
    assert_eq!(logger.dropped(), 0);
    allocations as f64 / STATEMENTS as f64
}

#[test]
fn a_logged_statement_allocates_only_its_two_events() {
    for level in [Level::INFO, Level::DEBUG] {
        let per = allocations_per_statement(level);
        assert!(per < 2.05, "{per} allocations per statement at {level}");
    }
}

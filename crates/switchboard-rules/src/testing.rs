//! Helpers for the unit tests: checks of statements, classified for real.

use chrono::{DateTime, TimeZone, Utc};
use switchboard_core::guard::{Check, Statement};
use switchboard_core::{Backend, Labels, Origin};
use switchboard_sql::{Dialect, classify};

use std::sync::Arc;

/// Friday 2026-11-27 10:00 UTC, inside office hours.
pub(crate) fn friday_10() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0)
        .single()
        .expect("valid date")
}

/// A check of `sql` (PostgreSQL) with these labels, at [`friday_10`].
pub(crate) fn check(sql: &str, labels: &[(&str, &str)]) -> Check {
    check_on(Backend::Postgres, sql, labels).at(friday_10())
}

/// A check of `sql` classified in `backend`'s dialect.
pub(crate) fn check_on(backend: Backend, sql: &str, labels: &[(&str, &str)]) -> Check {
    let classified = Arc::new(classify(sql, Dialect::for_backend(backend)));
    let statement = Statement::new(1, sql.into(), Origin::Execute, classified);
    let labels: Labels = labels.iter().copied().collect();
    Check::statement("app".into(), backend, 1, labels, statement).at(friday_10())
}

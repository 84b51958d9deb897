//! Statement classification for Switchboard, with a real SQL parser
//! ([`sqlparser`]), never regexes.
//!
//! For every statement a connection is about to run, the rule engine and the
//! audit log need the same facts: its pgAudit [`StatementClass`], an
//! operation name, the tables it touches, whether an `UPDATE`/`DELETE` lacks
//! a `WHERE`, and how many bind parameters it expects. [`classify`] parses
//! once and reports them as a [`Classification`]; [`Classifier`] puts a
//! bounded LRU cache in front of it for the hot path.
//!
//! ```
//! use switchboard_core::StatementClass;
//! use switchboard_sql::{Classifier, Dialect};
//!
//! let classifier = Classifier::default();
//! let sql = "DELETE FROM `shop`.`orders` WHERE id = ?";
//! let first = classifier.classify(sql, Dialect::Mysql);
//! let c = first.as_ref().as_ref().map_err(Clone::clone)?;
//! assert_eq!(c.class, StatementClass::Write);
//! assert_eq!(c.tables, ["shop.orders"]);
//! assert!(!c.missing_where);
//! assert_eq!(c.placeholders, 1);
//!
//! classifier.classify(sql, Dialect::Mysql); // answered from the cache
//! assert_eq!(classifier.stats().hits, 1);
//! # Ok::<(), switchboard_sql::ParseError>(())
//! ```
//!
//! # Classes
//!
//! - **Read**: `SELECT`, `WITH ... SELECT`, `VALUES`, `SHOW`, `DESCRIBE`,
//!   `EXPLAIN` (without `ANALYZE`, whatever it explains), `COPY ... TO`.
//! - **Write**: `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE`,
//!   `COPY ... FROM`; a query whose CTE modifies data; `SELECT ... INTO
//!   new_table` (pgAudit logs that as DDL; here it is a write, because it
//!   moves data rather than altering a schema by hand).
//! - **Ddl**: `CREATE`/`ALTER`/`DROP` of tables, indexes, views, schemas,
//!   sequences, functions, triggers, types, extensions, databases, ...;
//!   `RENAME TABLE`, `COMMENT ON`, `REFRESH MATERIALIZED VIEW`.
//! - **Role**: `GRANT`, `REVOKE`, `CREATE`/`ALTER`/`DROP` `ROLE`/`USER`.
//! - **Misc**: transactions and savepoints, `SET` (including `SET ROLE`),
//!   `RESET`, `VACUUM`, `ANALYZE`, `PRAGMA`, `USE`, `DISCARD`, `LOCK`,
//!   `PREPARE` of a misc statement, `EXECUTE`, `CALL`, ...
//!
//! `EXPLAIN ANALYZE` and `PREPARE` take the class of the statement they
//! run or prepare. For several statements the class is the most privileged
//! one, in the order `Role > Ddl > Write > Read > Misc`.
//!
//! # Limits
//!
//! sqlparser does not know every statement of every backend. Text it cannot
//! parse is a [`ParseError`], never a guessed class; callers that enforce
//! rules should treat it deliberately (failing closed is safest). Known gaps
//! in sqlparser 0.64 include MySQL's `CREATE USER 'u'@'host'`, PostgreSQL's
//! `CREATE USER u WITH PASSWORD '...'`, `DO`, `CHECKPOINT`, `TABLE t`,
//! SQLite's `PRAGMA table_info(t)`, and `?` placeholders in PostgreSQL
//! (where `?` is an operator; use `$1`).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod cache; // a bounded LRU cache in front of classify
mod classify; // text -> Classification: lex check, parse, walk
mod dialect; // the dialects, mapped to sqlparser's
mod effects; // built-in functions known to change nothing
mod error; // sqlparser's errors as ParseError
mod explain; // whether an EXPLAIN runs its statement
mod lex; // each server's lexer, checked against sqlparser's tokens
mod names; // table names as the server resolves them, and matching
mod placeholders; // how many bind parameters
mod session; // settings that change how the server lexes SQL
mod statement; // facts about one statement node
mod tables; // tables touched, with CTE scoping per dialect
mod walk; // the visitor that gathers it all

pub use cache::{CacheStats, Classified, Classifier};
pub use classify::classify;
pub use dialect::Dialect;
pub use error::ParseError;
pub use names::table_matches;
pub use switchboard_core::StatementClass;
pub use switchboard_core::class::Classification;

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
//! - **Read**: `SELECT`, `WITH ... SELECT`, `VALUES`, `TABLE t` inside a
//!   query, `SHOW`, `DESCRIBE`, `EXPLAIN` (without `ANALYZE`, whatever it
//!   explains), `COPY ... TO STDOUT` — as long as nothing in them may write.
//! - **Write**: `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE`,
//!   `COPY ... FROM`; a query whose CTE modifies data; `SELECT ... INTO
//!   new_table` (pgAudit logs that as DDL; here it is a write, because it
//!   moves data rather than altering a schema by hand). Also what *may
//!   write*: a statement that calls a function not known to change nothing
//!   (`nextval`, `setval`, `set_config`, `pg_advisory_lock`, `lo_*`,
//!   `dblink_exec`, `GET_LOCK`, `load_extension`, any user-defined or
//!   unknown function; see below), `SELECT ... FOR UPDATE`/`FOR SHARE`,
//!   `CALL`, `EXECUTE` of a prepared statement, `COPY ... TO` a server file
//!   or program.
//! - **Ddl**: `CREATE`/`ALTER`/`DROP` of tables, indexes, views, schemas,
//!   sequences, functions, triggers, types, extensions, databases, ...;
//!   `RENAME TABLE`, `COMMENT ON`, `REFRESH MATERIALIZED VIEW`.
//! - **Role**: `GRANT`, `REVOKE`, `CREATE`/`ALTER`/`DROP` `ROLE`/`USER`.
//! - **Misc**: transactions and savepoints, `SET` (including `SET ROLE`),
//!   `RESET`, `VACUUM`, `ANALYZE`, `PRAGMA`, `USE`, `DISCARD`, `LOCK`,
//!   `PREPARE` of a misc statement, ...
//!
//! `EXPLAIN ANALYZE` and `PREPARE` take the class of the statement they
//! run or prepare. On MySQL and MariaDB a plain `EXPLAIN` (or `DESCRIBE`)
//! of a write does too: it does not run, but the server treats it as the
//! write and refuses it in a read-only transaction. For several statements the class is the most privileged
//! one, in the order `Role > Ddl > Write > Read > Misc`.
//!
//! Functions known to change nothing are the built-ins of each server that
//! compute, read or report (`count`, `lower`, `now`, `coalesce`,
//! `generate_series`, `json_extract`, `pg_sleep`, ...); PostgreSQL's may be
//! qualified with `pg_catalog` only. Calls count even under `EXPLAIN`
//! without `ANALYZE`, since planners may evaluate them.
//!
//! # Table names
//!
//! [`Classification::tables`] names tables as the server resolves them:
//! PostgreSQL folds unquoted names to lower case, keeps quoted ones, and
//! clips both to 63 bytes; SQLite ignores case, so names are reported
//! lower-cased; MySQL keeps names as written (whether `Orders` is `orders`
//! depends on the server's `lower_case_table_names`). Schema-qualified
//! names keep their qualification (`public.users`). Compare a name with
//! [`table_matches`], which ignores case and lets a bare name match any
//! schema. A CTE hides a table only where the server's scoping says so, and
//! never the table an `INSERT`, `UPDATE`, `DELETE` or `MERGE` modifies.
//!
//! # Unparsable
//!
//! Text that sqlparser cannot parse is a [`ParseError`], never a guessed
//! class; callers that enforce rules should treat it deliberately (failing
//! closed is safest). So is text the classifier cannot model with
//! certainty, whose message starts `cannot be classified with certainty`:
//!
//! - text the server would split into comments, strings and quoted names
//!   differently from sqlparser (each server's lexer is modelled and
//!   compared with sqlparser's tokens), including SQLite's `$name(...)`
//!   variables;
//! - MySQL/MariaDB executable comments, `/*! ... */`, `/*!50700 ... */`,
//!   `/*M! ... */`, whose content runs depending on the server's version;
//! - NUL characters, and non-ASCII spaces outside strings;
//! - an `EXPLAIN` option PostgreSQL does not document, or an `ANALYZE`
//!   value it does not read as true or false;
//! - a setting that changes how the server lexes the statements that follow,
//!   set to anything but its default: PostgreSQL's
//!   `standard_conforming_strings`, `backslash_quote`, `client_encoding` /
//!   `SET NAMES` (by `SET`, `ALTER ROLE ... SET` or `set_config`), MySQL's
//!   `sql_mode` (any mode not known to leave the lexer alone, such as
//!   `ANSI_QUOTES`, `NO_BACKSLASH_ESCAPES`, `ANSI`, `ORACLE`) and
//!   `character_set_client` / `SET NAMES` (an encoding other than UTF-8,
//!   Latin-1, ASCII or binary), in any scope; a value that is not a literal.
//!
//! The model assumes the server starts sessions with its default settings.
//!
//! # Limits
//!
//! sqlparser does not know every statement of every backend; known gaps in
//! sqlparser 0.64 include MySQL's `CREATE USER 'u'@'host'`, PostgreSQL's
//! `CREATE USER u WITH PASSWORD '...'`, `DO`, `CHECKPOINT`, a top-level
//! `TABLE t`, `BEGIN ... DEFERRABLE` (diesel's `.deferrable()`), SQLite's `PRAGMA table_info(t)`, and `?` placeholders in
//! PostgreSQL (where `?` is an operator; use `$1`). All are unparsable.
//! The classifier sees only the statement's text: what a view, a trigger, a
//! rule, a user-defined operator or type, or a prepared statement does is
//! not visible to it; the database's own read-only mode is the backstop
//! for those.
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

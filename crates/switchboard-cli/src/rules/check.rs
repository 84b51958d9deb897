//! `switchboard rules check`: one statement through a rules file.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::ValueEnum;
use switchboard_core::guard::{Check, Statement};
use switchboard_core::{Backend, Labels, Origin, Verdict};
use switchboard_rules::RuleEngine;
use switchboard_sql::{Dialect, classify};

use crate::{Failure, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The rules file (TOML).
    rules: PathBuf,
    /// The statement to judge.
    #[arg(long)]
    sql: String,
    /// The database it would run on: decides how the SQL is parsed.
    #[arg(long, value_enum, default_value_t = BackendArg::Postgres)]
    backend: BackendArg,
    /// A label of the statement, as KEY=VALUE; repeat for several.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// When the statement runs (RFC 3339, e.g. 2026-11-27T10:00:00Z);
    /// default now. Time windows are judged by it.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    at: Option<DateTime<Utc>>,
    /// Judge as if read-only mode were on.
    #[arg(long)]
    read_only: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum BackendArg {
    Sqlite,
    #[value(alias = "postgresql")]
    Postgres,
    #[value(alias = "mariadb")]
    Mysql,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Sqlite => Backend::Sqlite,
            BackendArg::Postgres => Backend::Postgres,
            BackendArg::Mysql => Backend::Mysql,
        }
    }
}

fn parse_label(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{e}; write RFC 3339, e.g. 2026-11-27T10:00:00Z"))
}

pub(crate) fn run(args: Args) -> Result<Status, Failure> {
    let engine = RuleEngine::from_file(&args.rules)?;
    if args.read_only {
        engine.set_read_only(true);
    }
    let backend = Backend::from(args.backend);
    let classified = Arc::new(classify(&args.sql, Dialect::for_backend(backend)));
    let statement = Statement::new(
        0,
        args.sql.as_str().into(),
        Origin::Execute,
        classified.clone(),
    );
    let labels: Labels = args.labels.into_iter().collect();
    let check = Check::statement("cli".into(), backend, 0, labels, statement)
        .at(args.at.unwrap_or_else(Utc::now));

    let explanation = engine.explain(&check);
    let status = match &explanation.verdict {
        Verdict::Deny { reason } => {
            println!("verdict:   deny");
            if let Some(rule) = &explanation.decided_by {
                println!("rule:      {rule}");
            }
            println!("reason:    {reason}");
            Status::Denied
        }
        _ => {
            println!("verdict:   allow");
            Status::Ok
        }
    };
    for report in &explanation.shadow {
        println!("shadow:    {}", report.reason);
    }
    match &*classified {
        Ok(c) => {
            let mut line = format!("statement: {} ({})", c.operation, c.class);
            if !c.tables.is_empty() {
                line.push_str(&format!(", tables: {}", c.tables.join(", ")));
            }
            if c.missing_where {
                line.push_str(", no WHERE");
            }
            println!("{line}");
        }
        Err(e) => println!("statement: {e}"),
    }
    Ok(status)
}

//! `switchboard rules replay`: recorded events through a rules file.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::PathBuf;

use switchboard_rules::replay::{Hit, ReplayReport};
use switchboard_rules::{Decider, RuleEngine, replay_jsonl};

use crate::text::{labels, one_line};
use crate::{Failure, Status};

/// How much of each statement's SQL is shown.
const SQL_WIDTH: usize = 80;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The rules file (TOML).
    rules: PathBuf,
    /// Events as JSON Lines (an audit log, a recorded bus); `-` reads stdin.
    events: PathBuf,
    /// Replay as if read-only mode were on.
    #[arg(long)]
    read_only: bool,
}

pub(crate) fn run(args: Args) -> Result<Status, Failure> {
    let engine = RuleEngine::from_file(&args.rules)?;
    if args.read_only {
        engine.set_read_only(true);
    }
    let cannot_read =
        |e: io::Error| Failure::new(format!("cannot read events {}: {e}", args.events.display()));
    let report = if args.events.as_os_str() == "-" {
        replay_jsonl(&engine, io::stdin().lock())
    } else {
        let file = File::open(&args.events).map_err(cannot_read)?;
        replay_jsonl(&engine, BufReader::new(file))
    }
    .map_err(cannot_read)?;
    print(&report);
    Ok(Status::Ok)
}

fn print(report: &ReplayReport) {
    if !report.would_deny.is_empty() {
        println!("would deny:");
        report.would_deny.iter().for_each(hit);
        more(report.would_deny_total, report.would_deny.len());
    }
    if !report.shadow.is_empty() {
        println!("shadow reports:");
        report.shadow.iter().for_each(hit);
        more(report.shadow_total, report.shadow.len());
    }
    if !report.malformed.is_empty() {
        println!("malformed lines:");
        for m in &report.malformed {
            println!("  line {}: {}", m.line, m.error);
        }
        more(report.malformed_total, report.malformed.len());
    }

    println!(
        "{} statements, {} would be denied, {} shadow reports, {} malformed lines",
        report.statements, report.would_deny_total, report.shadow_total, report.malformed_total
    );
    let width = report
        .per_rule
        .keys()
        .map(|k| k.chars().count())
        .max()
        .unwrap_or(0);
    for (rule, counts) in &report.per_rule {
        println!(
            "  {rule:width$}  {} denied, {} shadow",
            counts.denied, counts.shadow
        );
    }
}

/// `  TIME  #EVENT  LABELS  SQL` and, below, `    RULE: REASON`.
fn hit(hit: &Hit) {
    println!(
        "  {}  #{}  {}  {}",
        hit.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        hit.event_id,
        labels(&hit.labels),
        one_line(&hit.sql, SQL_WIDTH)
    );
    println!(
        "      {}: {}",
        hit.rule,
        without_rule_prefix(&hit.rule, &hit.reason)
    );
}

/// A rule's reason starts `rule "name": `; the name is already shown.
fn without_rule_prefix<'r>(rule: &Decider, reason: &'r str) -> &'r str {
    match rule {
        Decider::Rule(name) => reason
            .strip_prefix("rule \"")
            .and_then(|r| r.strip_prefix(&**name))
            .and_then(|r| r.strip_prefix("\": "))
            .unwrap_or(reason),
        _ => reason,
    }
}

fn more(total: u64, shown: usize) {
    if total > shown as u64 {
        println!("  ... and {} more", total - shown as u64);
    }
}

//! `switchboard audit verify`: the hash chain of audit files and, given the
//! public keys, the log against its signed checkpoints and a witness's copy.

use std::path::PathBuf;

use std::time::Duration;

use switchboard_audit::{Anchoring, PublicKey, VerifyError, VerifyOptions, verify_with};
use switchboard_nats::{NatsWitness, StreamSettings};

use crate::{Failure, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The log's files in chain order (its own file names sort in chain
    /// order, so a shell glob gives it); a directory stands for the
    /// `<base>.*.jsonl` files in it.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// The base name of the files a directory holds.
    #[arg(long, default_value = "audit")]
    base: String,
    /// Accept a chain that starts after its first record (older files were
    /// archived); by default a missing beginning is a broken chain.
    #[arg(long)]
    partial: bool,
    /// A public key the log's checkpoints may be signed with (repeat it
    /// across a key rotation). Without one, only the chain is checked.
    #[arg(long = "key", value_name = "PUBLIC_KEY")]
    keys: Vec<PathBuf>,
    /// The log's checkpoint file (default `<base>.checkpoints.jsonl` beside
    /// the log's files).
    #[arg(long, value_name = "FILE", requires = "keys")]
    checkpoints: Option<PathBuf>,
    /// A witness holding a copy of the checkpoints: a directory, or
    /// `nats://HOST:PORT/STREAM/PREFIX` for a NATS JetStream witness.
    #[arg(long, value_name = "DIR_OR_NATS", requires = "keys")]
    witness: Option<String>,
    /// Exit 3 when more records than this follow the latest checkpoint.
    #[arg(long, value_name = "RECORDS", requires = "keys")]
    max_unanchored: Option<u64>,
    /// Exit 3 when the oldest record after the latest checkpoint is older
    /// than this many seconds.
    #[arg(long, value_name = "SECONDS", requires = "keys")]
    max_unanchored_age: Option<u64>,
}

pub(crate) fn run(args: Args) -> Result<Status, Failure> {
    let mut files = Vec::new();
    for path in &args.files {
        if path.is_dir() {
            let found = switchboard_audit::files(path, &args.base).map_err(Failure::new)?;
            if found.is_empty() {
                return Err(Failure::new(format!(
                    "{} holds no {}.*.jsonl files",
                    path.display(),
                    args.base
                )));
            }
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut options = VerifyOptions::default()
        .allow_partial(args.partial)
        .base(&args.base);
    for key in &args.keys {
        options = options.key(PublicKey::read(key).map_err(Failure::new)?);
    }
    if let Some(file) = &args.checkpoints {
        options = options.checkpoints(file);
    }
    match args.witness.as_deref() {
        Some(nats) if nats.starts_with("nats://") => {
            let lines = read_nats_witness(nats, &args.base)?;
            options = options.witness_lines(nats, lines);
        }
        Some(dir) => options = options.witness(dir),
        None => {}
    }
    let report = match verify_with(&files, options) {
        Ok(report) => report,
        Err(e @ (VerifyError::Broken(_) | VerifyError::Tampered(_))) => {
            println!("{e}");
            return Ok(Status::Broken);
        }
        Err(error) => return Err(Failure::new(error)),
    };
    println!("{report}");
    let Anchoring::Signed(anchored) = &report.anchoring else {
        return Ok(Status::Ok);
    };
    let too_many = args
        .max_unanchored
        .is_some_and(|max| anchored.unanchored > max);
    let too_old = args.max_unanchored_age.is_some_and(|max| {
        anchored.unanchored > 0
            && anchored.oldest_unanchored.is_none_or(|at| {
                (chrono::Utc::now() - at).num_seconds() > i64::try_from(max).unwrap_or(i64::MAX)
            })
    });
    if too_many || too_old {
        println!(
            "past the limit: {} unanchored records (--max-unanchored {}, --max-unanchored-age {})",
            anchored.unanchored,
            args.max_unanchored.map_or("-".into(), |m| m.to_string()),
            args.max_unanchored_age
                .map_or("-".into(), |m| format!("{m}s")),
        );
        return Ok(Status::Unanchored);
    }
    Ok(Status::Ok)
}

/// The checkpoints a NATS witness `nats://HOST:PORT/STREAM/PREFIX` holds for
/// the log `base`.
fn read_nats_witness(spec: &str, base: &str) -> Result<Vec<Vec<u8>>, Failure> {
    let rest = spec.trim_start_matches("nats://");
    let mut parts = rest.splitn(3, '/');
    let (Some(server), Some(stream), Some(prefix)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(Failure::new(format!(
            "--witness {spec}: expected nats://HOST:PORT/STREAM/PREFIX"
        )));
    };
    let settings = StreamSettings::new(stream, [format!("{prefix}.>")]);
    NatsWitness::new(&format!("nats://{server}"), settings, prefix)
        .map_err(Failure::new)?
        .timeout(Duration::from_secs(10))
        .read(base)
        .map_err(Failure::new)
}

//! `switchboard audit verify`: the hash chain of audit files.

use std::path::PathBuf;

use switchboard_audit::{VerifyError, VerifyOptions, verify_with};

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
}

pub(crate) fn run(args: Args) -> Result<Status, Failure> {
    let mut files = Vec::new();
    for path in args.files {
        if path.is_dir() {
            let found = switchboard_audit::files(&path, &args.base).map_err(Failure::new)?;
            if found.is_empty() {
                return Err(Failure::new(format!(
                    "{} holds no {}.*.jsonl files",
                    path.display(),
                    args.base
                )));
            }
            files.extend(found);
        } else {
            files.push(path);
        }
    }
    let options = VerifyOptions::default().allow_partial(args.partial);
    match verify_with(&files, options) {
        Ok(report) => {
            println!("{report}");
            Ok(Status::Ok)
        }
        Err(VerifyError::Broken(broken)) => {
            println!("{broken}");
            Ok(Status::Broken)
        }
        Err(error) => Err(Failure::new(error)),
    }
}

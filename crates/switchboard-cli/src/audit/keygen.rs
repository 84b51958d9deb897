//! `switchboard audit keygen`: a new key pair for signing checkpoints.

use std::path::PathBuf;

use switchboard_audit::SecretKey;

use crate::{Failure, Status};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where the secret key goes (readable by its owner only); the public
    /// key goes to the same path with `.pub` added. Neither is replaced if
    /// it exists.
    #[arg(value_name = "KEY_FILE")]
    key: PathBuf,
}

pub(crate) fn run(args: Args) -> Result<Status, Failure> {
    let mut public = args.key.clone().into_os_string();
    public.push(".pub");
    let public = PathBuf::from(public);
    if public.exists() {
        return Err(Failure::new(format!(
            "{} exists; choose another name",
            public.display()
        )));
    }
    let key = SecretKey::generate().map_err(Failure::new)?;
    key.write(&args.key).map_err(Failure::new)?;
    key.public().write(&public).map_err(Failure::new)?;
    println!(
        "key id {}\nsecret key: {} (give it to the audit log; keep it off the log's disk and away from whoever administers the log)\npublic key: {} (give it to `switchboard audit verify --key`)",
        key.id(),
        args.key.display(),
        public.display()
    );
    Ok(Status::Ok)
}

//! `rtprelay store check|restore --data-dir DIR` (docs/protocol.md §4): the
//! way out of a damaged credential store, with no relay running. Each
//! prints one JSON object on stdout when it succeeds, and one line on stderr
//! (exit 1) when it does not.

use crate::exit;
use crate::store;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `rtprelay store` subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Checks the store: it opens, every page's checksum holds, every
    /// record reads, and the backup matches. Exit 0 when healthy.
    Check(StoreArgs),
    /// Rebuilds the store from its backup (credentials.backup.json); the
    /// replaced file is kept beside it. Refuses while a relay runs.
    Restore(StoreArgs),
}

/// The flags of `rtprelay store`.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The relay's data directory.
    #[arg(long, value_name = "DIR", env = "RTPRELAY_DATA_DIR", default_value = "./rtprelay-data")]
    pub data_dir: PathBuf,
}

/// Runs a `store` subcommand; returns the exit code.
pub fn main(command: &StoreCommand) -> i32 {
    let answer = match command {
        StoreCommand::Check(args) => store::check(&args.data_dir).map(|r| serde_json::to_string(&r)),
        StoreCommand::Restore(args) => store::restore(&args.data_dir).map(|r| serde_json::to_string(&r)),
    };
    match answer {
        Ok(Ok(line)) => {
            println!("{line}");
            exit::OK
        }
        Ok(Err(e)) => {
            eprintln!("rtprelay: {e}");
            exit::FAILURE
        }
        Err(e) => {
            eprintln!("rtprelay: {e}");
            exit::FAILURE
        }
    }
}

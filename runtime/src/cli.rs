//! The `rtprelay` command line (docs/protocol.md §4): parses the arguments
//! and hands them to the subcommand's module; the exit codes are in
//! [`crate::exit`], each subcommand's flags next to the subcommand.

use crate::client_cmd::{pull, push};
use crate::exit;
use crate::serve::ServeArgs;
use crate::store_cmd::StoreCommand;
use crate::stream_cmd::StreamCommand;
use clap::{Parser, Subcommand};

/// The live-stream relay.
#[derive(Debug, Parser)]
#[command(name = "rtprelay", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the relay.
    Serve(ServeArgs),
    /// Publishes an MPEG-TS file or standard input.
    Push(push::PushArgs),
    /// Writes streams to files or standard output.
    Pull(pull::PullArgs),
    /// Manages streams of a running relay through its HTTP API.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Checks the credential store, or rebuilds it from its backup.
    #[command(subcommand)]
    Store(StoreCommand),
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // clap's message is several lines; the contract is one.
            let text = e.to_string();
            let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("bad usage");
            eprintln!("rtprelay: {}", line.trim_start_matches("error: "));
            return exit::USAGE;
        }
        Err(e) => {
            // --help and --version.
            let _ = e.print();
            return exit::OK;
        }
    };
    match cli.command {
        Command::Serve(args) => crate::serve::main(&args),
        Command::Stream(StreamCommand::Create(args)) => crate::stream_cmd::create(&args),
        Command::Store(command) => crate::store_cmd::main(&command),
        Command::Push(args) => crate::client_cmd::main("push", push::run(args)),
        Command::Pull(args) => crate::client_cmd::main("pull", pull::run(args)),
    }
}

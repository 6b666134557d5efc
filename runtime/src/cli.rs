//! The `rtprelay` command line (docs/protocol.md §4): parses the arguments
//! and hands them to the subcommand's module; the exit codes are in
//! [`crate::exit`], each subcommand's flags next to the subcommand, and
//! what a usage mistake prints in `cli/usage.rs`.

mod usage;

pub(crate) use usage::after_reason;

use crate::client_cmd::{pull, push};
use crate::exit;
use crate::serve::ServeArgs;
use crate::store_cmd::StoreCommand;
use crate::stream_cmd::{ListArgs, StreamCommand};
use clap::{CommandFactory, Parser, Subcommand};

/// The live-stream relay: `serve` runs it, `push` and `pull` publish and
/// watch streams, `stream` and `clients` manage a running relay.
#[derive(Debug, Parser)]
#[command(
    name = "rtprelay",
    version,
    about,
    after_help = "Exit status: 0 success, 1 failure while running, 2 bad usage or configuration."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the relay.
    #[command(after_help = "Every setting also has a TOML key (for --config) and an RTPRELAY_<KEY> \
        environment variable; flags beat the environment, which beats the file. `rtprelay config` \
        prints every key with its default.")]
    Serve(ServeArgs),
    /// Publishes an MPEG-TS file or standard input.
    #[command(after_help = "Exit status: 0 the input was pushed and the stream stopped (or Ctrl-C); \
        1 the code was refused, the input is not MPEG-TS, or the relay stopped answering and was \
        still silent when the input ended; 2 bad usage.")]
    Push(push::PushArgs),
    /// Writes streams to files or standard output.
    #[command(after_help = "Exit status: 0 every stream pulled has stopped (or Ctrl-C); 1 no relay \
        answered, or writing failed; 2 bad usage.")]
    Pull(pull::PullArgs),
    /// Manages the streams of a running relay through its HTTP API.
    #[command(subcommand)]
    Stream(StreamCommand),
    /// Lists the pull clients of a running relay.
    Clients(ListArgs),
    /// Checks the credential store, or rebuilds it from its backup.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Prints every setting of `serve`: key, default, environment variable.
    #[command(long_about = "Prints every configuration key of `rtprelay serve` with its default, its \
        environment variable, its flag and what it does, as a TOML file with every line commented out.")]
    Config,
    /// Prints a shell completion script.
    #[command(long_about = "Prints a shell completion script, for example:\n  \
        rtprelay completions bash > /etc/bash_completion.d/rtprelay\n  \
        rtprelay completions zsh > \"${fpath[1]}/_rtprelay\"\n  \
        rtprelay completions fish > ~/.config/fish/completions/rtprelay.fish")]
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Parses the process arguments and runs the command; returns the exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage::report(&e),
    };
    match cli.command {
        Command::Serve(args) => crate::serve::main(&args),
        Command::Stream(command) => crate::stream_cmd::main(&command),
        Command::Clients(args) => crate::stream_cmd::clients(&args),
        Command::Store(command) => crate::store_cmd::main(&command),
        Command::Push(args) => crate::client_cmd::main("push", push::run(args)),
        Command::Pull(args) => crate::client_cmd::main("pull", pull::run(args)),
        Command::Config => crate::config_cmd::main(),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rtprelay", &mut std::io::stdout());
            exit::OK
        }
    }
}

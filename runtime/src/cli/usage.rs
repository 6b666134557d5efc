//! What a usage mistake prints (docs/protocol.md §4): the one-line reason
//! first (`rtprelay: ...`), then clap's usage and tips, and where a command
//! is missing or unknown, the commands that exist. Exit status 2; `--help`
//! and `--version` go to standard output with status 0.

use super::Cli;
use crate::exit;
use clap::CommandFactory;
use clap::error::ErrorKind;

/// Prints `e` as the contract wants; returns the exit code.
pub(super) fn report(e: &clap::Error) -> i32 {
    let text = e.to_string();
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            exit::OK
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `text` is the help of the command that needs a subcommand.
            let path = command_path(&text);
            eprintln!("rtprelay: `{}` needs a command", path.join(" "));
            eprint!("\n{}", usage_and_commands(&text, &path));
            exit::USAGE
        }
        kind => {
            let (reason, rest) = split(&text);
            eprintln!("rtprelay: {reason}");
            let rest = if matches!(kind, ErrorKind::InvalidSubcommand | ErrorKind::MissingSubcommand) {
                usage_and_commands(&rest, &command_path(&rest))
            } else if rest.contains("Usage: ") {
                rest
            } else {
                // clap gives no usage with a bad value: the command's own.
                format!("{}\n\n{rest}", usage_of(std::env::args().skip(1)))
            };
            eprint!("\n{rest}");
            exit::USAGE
        }
    }
}

/// What follows the reason of a usage mistake found after parsing (a bad
/// stream id, a missing code file): the usage of the command `path` names
/// (`["stream", "show"]`) and the pointer to `--help`.
pub(crate) fn after_reason(path: &[&str]) -> String {
    let usage = usage_of(path.iter().map(|s| (*s).to_owned()));
    format!("\n{}\n\nFor more information, try '--help'.\n", usage.trim_end())
}

/// The usage line of the deepest subcommand `args` name.
fn usage_of(args: impl Iterator<Item = String>) -> String {
    let mut command = Cli::command();
    command.build();
    let mut at = &command;
    for arg in args {
        match at.find_subcommand(&arg) {
            Some(sub) => at = sub,
            None if arg.starts_with('-') => {}
            None => break,
        }
    }
    at.clone().render_usage().to_string()
}

/// clap's message split into the reason, as one line without `error: `,
/// and the rest (tips, usage, the pointer to `--help`).
fn split(text: &str) -> (String, String) {
    let text = text.strip_prefix("error: ").unwrap_or(text);
    let (reason, rest) = text.split_once("\n\n").unwrap_or((text, ""));
    let mut lines = reason.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("bad usage").trim_end_matches(':').to_owned();
    let more: Vec<&str> = lines.collect();
    let reason = if more.is_empty() { first } else { format!("{first}: {}", more.join(", ")) };
    (reason, rest.trim_start_matches('\n').to_owned())
}

/// The command a usage line names: `["rtprelay", "stream"]` for `Usage:
/// rtprelay stream <COMMAND>`.
fn command_path(text: &str) -> Vec<String> {
    let usage = text.lines().find_map(|l| l.trim_start().strip_prefix("Usage: ")).unwrap_or("rtprelay");
    usage.split_whitespace().take_while(|w| !w.starts_with(['<', '[', '-'])).map(str::to_owned).collect()
}

/// `text` (from the usage line on), with the subcommands of `path` listed
/// after the usage unless `text` already lists them.
fn usage_and_commands(text: &str, path: &[String]) -> String {
    // Tips come before the usage; a help text's description is dropped.
    let (before, from_usage) = text.split_at(text.find("Usage: ").unwrap_or(0));
    let before = if before.trim_start().starts_with("tip:") { before } else { "" };
    if from_usage.contains("\nCommands:\n") {
        return format!("{before}{from_usage}");
    }
    let mut command = Cli::command();
    command.build();
    let mut at = &command;
    for name in path.iter().skip(1) {
        match at.find_subcommand(name) {
            Some(sub) => at = sub,
            None => break,
        }
    }
    let subs: Vec<(String, String)> = at
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| (s.get_name().to_owned(), s.get_about().map(|a| a.to_string()).unwrap_or_default()))
        .collect();
    if subs.is_empty() {
        return format!("{before}{from_usage}");
    }
    let width = subs.iter().map(|(n, _)| n.len()).max().unwrap_or(0);
    let list: String = subs.iter().map(|(name, about)| format!("  {name:width$}  {about}\n")).collect();
    match from_usage.split_once("\n\n") {
        Some((usage, tail)) => format!("{before}{usage}\n\nCommands:\n{list}\n{tail}"),
        None => format!("{before}{}\n\nCommands:\n{list}", from_usage.trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn error(args: &[&str]) -> clap::Error {
        Cli::try_parse_from(args).expect_err("a usage error")
    }

    #[test]
    fn the_reason_is_one_line_and_keeps_what_is_missing() {
        let (reason, rest) = split(&error(&["rtprelay", "push"]).to_string());
        assert!(reason.starts_with("the following required arguments were not provided: --live-id <ID>"), "{reason}");
        assert!(!reason.contains('\n'));
        assert!(rest.starts_with("Usage: rtprelay push"), "{rest}");
    }

    #[test]
    fn an_unknown_subcommand_lists_the_ones_that_exist() {
        let text = error(&["rtprelay", "stream", "lst"]).to_string();
        let (reason, rest) = split(&text);
        assert_eq!(reason, "unrecognized subcommand 'lst'");
        let path = command_path(&rest);
        assert_eq!(path, ["rtprelay", "stream"]);
        let shown = usage_and_commands(&rest, &path);
        assert!(shown.trim_start().starts_with("tip:") && shown.contains("'list'"), "the tip stays: {shown}");
        for name in ["create", "list", "show", "stop", "delete"] {
            assert!(shown.contains(&format!("\n  {name} ")), "{name} in:\n{shown}");
        }
    }

    #[test]
    fn the_usage_of_the_command_named() {
        let args = ["stream", "show", "--json", "x"].map(String::from);
        assert!(usage_of(args.into_iter()).starts_with("Usage: rtprelay stream show"));
        assert!(usage_of(["--nope".to_owned()].into_iter()).starts_with("Usage: rtprelay <COMMAND>"));
    }

    #[test]
    fn a_late_usage_mistake_gets_the_usage_too() {
        let text = after_reason(&["stream", "show"]);
        assert!(text.starts_with("\nUsage: rtprelay stream show") && text.ends_with("try '--help'.\n"), "{text}");
    }

    #[test]
    fn a_missing_command_shows_the_commands() {
        let e = error(&["rtprelay"]);
        assert_eq!(e.kind(), ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand);
        let text = e.to_string();
        assert_eq!(command_path(&text), ["rtprelay"]);
        assert!(usage_and_commands(&text, &["rtprelay".into()]).contains("\n  serve "));
    }
}

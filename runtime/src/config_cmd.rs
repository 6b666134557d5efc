//! `rtprelay config`: every configuration key of `rtprelay serve`, with
//! its default, its environment variable, its flag and what it does, as a
//! TOML file with every line commented out; so the installed binary
//! documents itself without the repository. The words come from
//! `runtime/CONFIG.md` (built in), the defaults and names from the code.

use crate::config::{self, ServerConfig};
use crate::exit;

/// CONFIG.md, whose key tables give each key's meaning and flag.
const CONFIG_MD: &str = include_str!("../CONFIG.md");
/// Width the comments are wrapped to.
const WIDTH: usize = 78;

/// Prints the reference; returns the exit code.
pub fn main() -> i32 {
    print!("{}", reference());
    exit::OK
}

/// One key's row of CONFIG.md: its flag (if any) and meaning.
fn row(key: &str) -> (Option<String>, String) {
    let prefix = format!("| `{key}` |");
    let Some(line) = CONFIG_MD.lines().find(|l| l.starts_with(&prefix)) else { return (None, String::new()) };
    let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
    let flag = cells.iter().find(|c| c.starts_with("`--")).map(|c| c.trim_matches('`').to_owned());
    let meaning = cells.last().map_or("", |m| m).replace('`', "").replace("\\|", "|");
    (flag, meaning)
}

/// `text` with a capital first letter and a full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
    let text = format!("{first}{}", chars.as_str());
    if text.ends_with('.') { text } else { format!("{text}.") }
}

/// `text` as comment lines of at most [`WIDTH`] columns.
fn comment(text: &str) -> String {
    let mut out = String::new();
    let mut line = String::from("#");
    for word in text.split_whitespace() {
        if line.len() + 1 + word.len() > WIDTH && line.len() > 1 {
            out.push_str(&line);
            out.push('\n');
            line = String::from("#");
        }
        line.push(' ');
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// The whole reference.
pub fn reference() -> String {
    let core = toml::Table::try_from(rtprelay_core::Config::default()).unwrap_or_default();
    let mut defaults = toml::Table::try_from(ServerConfig::default()).unwrap_or_default();
    defaults.extend(core.clone());
    let mut out = String::from(
        "# Every configuration key of `rtprelay serve`, with its default (printed by\n\
         # `rtprelay config`). Save it as a file, uncomment what you change and pass\n\
         # it with --config FILE (or RTPRELAY_CONFIG=FILE). Each key can also be set\n\
         # by the environment variable shown; precedence: flags, then environment,\n\
         # then this file, then the defaults. An unknown key, a wrong type or a\n\
         # value that cannot work stops the relay with exit status 2.\n",
    );
    out.push_str("\n## The server\n");
    let mut in_core = false;
    for key in config::all_keys() {
        if !in_core && core.contains_key(&key) {
            in_core = true;
            out.push_str("\n## The relay core\n");
        }
        let (flag, meaning) = row(&key);
        out.push('\n');
        out.push_str(&comment(&sentence(&meaning)));
        let mut names = format!("Environment: {}", config::env_var_name(&key));
        if let Some(flag) = flag {
            names.push_str(&format!("; flag: {flag}"));
        }
        out.push_str(&comment(&format!("{names}.")));
        match defaults.get(&key) {
            Some(value) => out.push_str(&format!("#{key} = {value}\n")),
            None => out.push_str(&format!("#{key} =   (not set by default)\n")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_its_meaning_environment_and_default() {
        let text = reference();
        for key in config::all_keys() {
            let (_, meaning) = row(&key);
            assert!(!meaning.is_empty(), "CONFIG.md explains {key}");
            assert!(text.contains(&format!("\n#{key} = ")), "{key} in:\n{text}");
            assert!(text.contains(&config::env_var_name(&key)), "{key}");
        }
        assert!(text.contains("#push_addr = \"0.0.0.0:61040\"\n"), "{text}");
        assert!(text.contains("flag: --push-addr"), "{text}");
        assert!(text.contains("#stream_idle_timeout_ms = 30000\n"), "{text}");
        assert!(text.lines().all(|l| l.is_empty() || l.starts_with('#')), "every line is a comment");
        assert!(text.lines().all(|l| l.len() <= WIDTH || !l.contains(' ') || l.starts_with("#app_keys")), "{text}");
    }

    #[test]
    fn uncommented_defaults_are_a_valid_config() {
        let text: String = reference()
            .lines()
            .filter_map(|l| l.strip_prefix('#'))
            .filter(|l| l.contains(" = ") && !l.contains("(not set by default)") && !l.starts_with(' '))
            .map(|l| format!("{l}\n"))
            .collect();
        let table: toml::Table = text.parse().unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(table.len(), config::all_keys().len() - 3, "all but admin_token, tls_cert, tls_key");
        assert_eq!(config::build(&[table]).unwrap(), config::Settings::default());
    }
}

//! The repository stands on its own: every section citation in the code and
//! the docs names a section of `docs/protocol.md` that exists, and no file
//! points at the fleet's documents outside the repository.
//!
//! A citation is the section sign followed by a number: `1.4` (a heading
//! starting with that number), `1.3.5` (step 5 of the numbered list in
//! section 1.3) or `3` (a part). Citations of RFC sections (`RFC 3550`
//! followed by a section sign) are not ours and are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The section sign, spelt out so that this file holds no citation.
const SECTION: char = '\u{a7}';

/// The outside documents (and their folder) no tracked file may name, built
/// with `concat!` so that this file does not name them either.
const OUTSIDE_DOCS: [&str; 3] = [concat!("PROTOCOL", ".md"), concat!("DESIGN", ".md"), concat!("..", "/shared")];

/// The one README line allowed to name the outside contract.
const README_LINES_NAMING_THE_CONTRACT: usize = 1;

/// File kinds whose section citations are checked.
const CITING_EXTENSIONS: [&str; 3] = ["rs", "md", "json"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("runtime/ sits in the repository").to_path_buf()
}

/// The repository's files, relative to its root: `git ls-files` when git
/// knows the checkout, else a walk that skips build output and `.git`.
fn repo_files(root: &Path) -> Vec<String> {
    let listed = Command::new("git").arg("ls-files").arg("-z").current_dir(root).output();
    if let Ok(out) = listed
        && out.status.success()
        && !out.stdout.is_empty()
    {
        return String::from_utf8_lossy(&out.stdout).split('\0').filter(|p| !p.is_empty()).map(str::to_owned).collect();
    }
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable directory").flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if !matches!(name.to_str(), Some("target" | ".git" | "corpus" | "artifacts")) {
                    dirs.push(path);
                }
            } else if let Ok(rel) = path.strip_prefix(root) {
                files.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files.sort();
    files
}

/// What `docs/protocol.md` defines: its numbered headings, and for each
/// heading the numbers of its top-level numbered list items (steps).
#[derive(Debug, Default)]
struct Sections {
    headings: BTreeSet<String>,
    steps: BTreeMap<String, BTreeSet<u32>>,
}

/// The leading section number of `s` (`1.3` of `1.3 Publishing`, `2` of
/// `2. Extensions`), without a trailing dot.
fn leading_number(s: &str) -> Option<String> {
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let number = s[..end].trim_end_matches('.');
    (!number.is_empty() && number.starts_with(|c: char| c.is_ascii_digit())).then(|| number.to_owned())
}

fn sections(protocol: &str) -> Sections {
    let mut out = Sections::default();
    let mut current: Option<String> = None;
    for line in protocol.lines() {
        if let Some(title) = line.strip_prefix('#') {
            current = leading_number(title.trim_start_matches('#').trim_start());
            if let Some(n) = &current {
                out.headings.insert(n.clone());
            }
        } else if let Some(section) = &current {
            // A step: `5. ...` at the start of a line.
            if let Some((digits, _)) = line.split_once(". ")
                && !digits.is_empty()
                && digits.chars().all(|c| c.is_ascii_digit())
            {
                out.steps.entry(section.clone()).or_default().insert(digits.parse().expect("digits"));
            }
        }
    }
    out
}

impl Sections {
    fn has(&self, citation: &str) -> bool {
        if self.headings.contains(citation) {
            return true;
        }
        let Some((section, step)) = citation.rsplit_once('.') else { return false };
        step.parse::<u32>().is_ok_and(|k| self.steps.get(section).is_some_and(|s| s.contains(&k)))
    }
}

/// The section numbers cited in `text`, with their line numbers, RFC
/// citations left out.
fn citations(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut previous = "";
    for (i, line) in text.lines().enumerate() {
        for (at, _) in line.match_indices(SECTION) {
            let after = line[at + SECTION.len_utf8()..].trim_start();
            let Some(number) = leading_number(after) else { continue };
            // `RFC 3550 <sign>6.4.2`: someone else's section, possibly
            // wrapped after the RFC's number.
            let before = format!("{previous} {}", &line[..at]);
            let mut before = before.split_whitespace().rev();
            let rfc_number = before.next().is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()));
            if rfc_number && before.next().is_some_and(|w| w.ends_with("RFC")) {
                continue;
            }
            out.push((i + 1, number));
        }
        previous = line;
    }
    out
}

/// The citations in `text` that `sections` does not define.
fn unknown_citations(sections: &Sections, text: &str) -> Vec<(usize, String)> {
    citations(text).into_iter().filter(|(_, c)| !sections.has(c)).collect()
}

fn read_text(root: &Path, file: &str) -> Option<String> {
    std::fs::read(root.join(file)).ok().and_then(|b| String::from_utf8(b).ok())
}

fn protocol_sections(root: &Path) -> Sections {
    let text = read_text(root, "docs/protocol.md").expect("docs/protocol.md exists");
    sections(&text)
}

#[test]
fn every_section_citation_names_a_section_of_docs_protocol_md() {
    let root = repo_root();
    let sections = protocol_sections(&root);
    let mut bad = Vec::new();
    let mut checked = 0;
    for file in repo_files(&root) {
        let cites = CITING_EXTENSIONS.iter().any(|ext| file.ends_with(&format!(".{ext}")));
        let Some(text) = cites.then(|| read_text(&root, &file)).flatten() else { continue };
        checked += citations(&text).len();
        for (line, citation) in unknown_citations(&sections, &text) {
            bad.push(format!("{file}:{line}: {SECTION}{citation}"));
        }
    }
    assert!(checked > 50, "only {checked} citations found: is the walk broken?");
    assert!(bad.is_empty(), "citations of sections docs/protocol.md does not have:\n{}", bad.join("\n"));
}

#[test]
fn no_file_points_outside_the_repository() {
    let root = repo_root();
    let mut bad = Vec::new();
    for file in repo_files(&root) {
        let Some(text) = read_text(&root, &file) else { continue };
        let naming: Vec<usize> = text
            .lines()
            .enumerate()
            .filter(|(_, l)| OUTSIDE_DOCS.iter().any(|d| l.contains(d)))
            .map(|(i, _)| i + 1)
            .collect();
        let allowed = if file == "README.md" { README_LINES_NAMING_THE_CONTRACT } else { 0 };
        if naming.len() > allowed {
            bad.extend(naming.iter().map(|line| format!("{file}:{line}")));
        }
    }
    assert!(bad.is_empty(), "references to documents outside the repository:\n{}", bad.join("\n"));
}

#[test]
fn the_checker_knows_headings_steps_parts_and_rfcs() {
    let doc = "# Title\n\n## 1. Legacy\n\n### 1.3 Publishing\n\n1. **Auth.** x\n2. **SSRC.** y\n   3. not a step\n\n\
               ### 1.4 Subscribing\n\n10. **Trust.** z\n";
    let s = sections(doc);
    assert!(s.has("1") && s.has("1.3") && s.has("1.3.1") && s.has("1.3.2") && s.has("1.4.10"));
    assert!(!s.has("1.3.3") && !s.has("1.5") && !s.has("2") && !s.has("1.4.1"));
    let text = format!(
        "see {SECTION}1.3.2 and {SECTION} 1.4, RFC 3550 {SECTION}6.4.2, a made-up {SECTION}9.9.\n{SECTION}1.3.3 too, RFC 4585\n{SECTION}6.2.1 wrapped"
    );
    let bad = unknown_citations(&s, &text);
    assert_eq!(bad, [(1, "9.9".to_owned()), (2, "1.3.3".to_owned())]);
}

#[test]
fn a_made_up_section_fails_against_the_real_document() {
    let sections = protocol_sections(&repo_root());
    let text = format!("// docs/protocol.md {SECTION}9.9");
    assert_eq!(unknown_citations(&sections, &text), [(1, "9.9".to_owned())]);
}

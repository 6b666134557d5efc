//! The `/metrics` page: the core's [`Counters`] (each `rtprelay_<name>_total`
//! with the counter's doc as help) and a few gauges, in the Prometheus text
//! exposition format 0.0.4 (what `Content-Type` says, and what every
//! Prometheus parser reads: a `# TYPE` line names its samples exactly).

use rtprelay_core::Counters;
use std::fmt::Write as _;

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A point-in-time value: `(name, help, value)`.
pub type Gauge = (&'static str, &'static str, i64);

/// Help text as 0.0.4 wants it: one line, backslashes escaped.
fn help(text: &str) -> String {
    text.trim().replace('\\', "\\\\").replace('\n', "\\n")
}

/// Renders one scrape from a snapshot of the counters and the gauges.
pub fn render(counters: &Counters, gauges: &[Gauge]) -> String {
    let mut out = String::new();
    // Writing into a String cannot fail.
    for (name, value, text) in counters.fields() {
        let _ = writeln!(out, "# HELP rtprelay_{name}_total {}", help(text));
        let _ = writeln!(out, "# TYPE rtprelay_{name}_total counter");
        let _ = writeln!(out, "rtprelay_{name}_total {value}");
    }
    for &(name, text, value) in gauges {
        let _ = writeln!(out, "# HELP rtprelay_{name} {}", help(text));
        let _ = writeln!(out, "# TYPE rtprelay_{name} gauge");
        let _ = writeln!(out, "rtprelay_{name} {value}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_and_gauge_is_on_the_page_under_its_type_line() {
        let counters = Counters { rx_datagrams: 7, auth_refused: 2, ..Counters::default() };
        let page = render(&counters, &[("streams_live", "Live streams.", 3)]);
        assert!(page.contains("# HELP rtprelay_rx_datagrams_total Datagrams received.\n"), "{page}");
        assert!(page.contains("# TYPE rtprelay_rx_datagrams_total counter\nrtprelay_rx_datagrams_total 7\n"));
        assert!(page.contains("rtprelay_auth_refused_total 2"));
        assert!(page.contains("# TYPE rtprelay_streams_live gauge\nrtprelay_streams_live 3\n"));
        for (name, _, _) in counters.fields() {
            assert!(page.contains(&format!("\nrtprelay_{name}_total ")), "{name}");
        }
        assert!(!page.contains("# EOF"), "0.0.4 has no end marker");
    }
}

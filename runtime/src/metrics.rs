//! The `/metrics` page: the core's [`Counters`] (each `rtprelay_<name>_total`
//! with the counter's doc as help) and a few gauges, in the Prometheus /
//! OpenMetrics text format written by `prometheus-client`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use rtprelay_core::relay::Counters;

/// The `Content-Type` of the page.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A point-in-time value: `(name, help, value)`.
pub type Gauge = (&'static str, &'static str, i64);

/// Renders one scrape from a snapshot of the counters and the gauges.
pub fn render(counters: &Counters, gauges: &[Gauge]) -> String {
    let mut registry = Registry::with_prefix("rtprelay");
    for (name, value, help) in counters.fields() {
        // prometheus-client ends every help text with a period itself.
        registry.register(name, help.trim().trim_end_matches('.'), ConstCounter::new(value));
    }
    for &(name, help, value) in gauges {
        registry.register(name, help.trim_end_matches('.'), ConstGauge::new(value));
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_and_gauge_is_on_the_page() {
        let counters = Counters { rx_datagrams: 7, auth_refused: 2, ..Counters::default() };
        let page = render(&counters, &[("streams_live", "Live streams.", 3)]);
        assert!(page.contains("rtprelay_rx_datagrams_total 7"), "{page}");
        assert!(page.contains("rtprelay_auth_refused_total 2"));
        assert!(page.contains("# HELP rtprelay_rx_datagrams Datagrams received.\n"), "{page}");
        assert!(page.contains("rtprelay_streams_live 3"));
        for (name, _, _) in counters.fields() {
            assert!(page.contains(&format!("rtprelay_{name}_total ")), "{name}");
        }
    }
}

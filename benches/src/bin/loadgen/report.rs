//! The figures of one run, their medians over rounds with ratios to the
//! first target, as text or JSON.

use crate::Args;
use crate::stats::Tally;
use serde_json::{Value, json};

/// What one run against one target measured.
pub(crate) struct Report {
    target: String,
    joined: usize,
    subscribers: usize,
    /// Publisher packets a second offered in the window.
    offered_pps: f64,
    expected: u64,
    delivered: u64,
    delivered_pps: f64,
    loss: f64,
    p50_ms: Option<f64>,
    p99_ms: Option<f64>,
    /// CPU seconds per million delivered packets: the forwarder's own
    /// (relay process, or reference thread), and the whole machine's.
    cpu_process_per_m: f64,
    cpu_machine_per_m: f64,
    /// The relay's resident memory before subscribers joined, after, and
    /// at the end (none for the references).
    rss: [Option<u64>; 3],
    /// The machine's one-minute load average at the end (how busy it was).
    load_average: f64,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        target: &str,
        args: &Args,
        joined: usize,
        subscribers: usize,
        sent: u64,
        tally: &Tally,
        cpu: (f64, f64),
        rss: [Option<u64>; 3],
    ) -> Self {
        let expected = sent * args.subscribers as u64;
        let millions = tally.delivered as f64 / 1e6;
        Report {
            target: target.to_owned(),
            joined,
            subscribers,
            offered_pps: sent as f64 / args.duration,
            expected,
            delivered: tally.delivered,
            delivered_pps: tally.delivered as f64 / args.duration,
            loss: if expected == 0 { 1.0 } else { 1.0 - tally.delivered as f64 / expected as f64 },
            p50_ms: tally.percentile_ms(0.5),
            p99_ms: tally.percentile_ms(0.99),
            cpu_process_per_m: cpu.0 / millions,
            cpu_machine_per_m: cpu.1 / millions,
            rss,
            load_average: load_average(),
        }
    }

    /// Resident bytes the relay took per joined subscriber.
    fn rss_per_subscriber(&self) -> Option<f64> {
        match self.rss {
            [Some(before), Some(joined), _] if self.joined > 0 => {
                Some((joined as f64 - before as f64) / self.joined as f64)
            }
            _ => None,
        }
    }

    /// One line of text.
    pub(crate) fn line(&self) -> String {
        format!(
            "{}: joined {}/{}, offered {:.0} pps in, expected {}, delivered {} ({:.0} pps out), loss {:.4} %, \
             latency p50 {} p99 {}, CPU s per M forwarded: process {:.3}, machine {:.3}, RSS {} ({} per subscriber), \
             load average {:.2}",
            self.target,
            self.joined,
            self.subscribers,
            self.offered_pps,
            self.expected,
            self.delivered,
            self.delivered_pps,
            self.loss * 100.0,
            ms(self.p50_ms),
            ms(self.p99_ms),
            self.cpu_process_per_m,
            self.cpu_machine_per_m,
            self.rss.map(|r| r.map_or("-".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))).join(" / "),
            self.rss_per_subscriber().map_or("-".to_owned(), |b| format!("{:.0} B", b)),
            self.load_average
        )
    }

    fn json(&self) -> Value {
        json!({
            "target": self.target,
            "joined": self.joined,
            "subscribers": self.subscribers,
            "offeredPps": self.offered_pps,
            "expected": self.expected,
            "delivered": self.delivered,
            "deliveredPps": self.delivered_pps,
            "loss": self.loss,
            "latencyP50Ms": self.p50_ms,
            "latencyP99Ms": self.p99_ms,
            "cpuProcessSecondsPerMillion": finite(self.cpu_process_per_m),
            "cpuMachineSecondsPerMillion": finite(self.cpu_machine_per_m),
            "rssBytes": { "before": self.rss[0], "joined": self.rss[1], "end": self.rss[2] },
            "rssPerSubscriberBytes": self.rss_per_subscriber(),
            "loadAverage": self.load_average,
        })
    }
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_owned(), |v| format!("{v:.2} ms"))
}

/// JSON has no NaN or infinity (a run that delivered nothing).
fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// One target's medians over its rounds, and its CPU figures as ratios
/// to the first target's.
pub(crate) struct Summary {
    target: String,
    values: [f64; 6],
    ratios: [f64; 2],
}

const COLUMNS: [&str; 6] = ["delivered pps", "loss %", "p50 ms", "p99 ms", "CPU/M proc s", "CPU/M machine s"];

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| !x.is_nan());
    v.sort_by(f64::total_cmp);
    if v.is_empty() { f64::NAN } else { v[v.len() / 2] }
}

/// Medians per target, in the order of `names`.
pub(crate) fn summarise(names: &[&str], reports: &[Report]) -> Vec<Summary> {
    let mut out: Vec<Summary> = names
        .iter()
        .map(|name| {
            let mine: Vec<&Report> = reports.iter().filter(|r| r.target == *name).collect();
            let col = |f: &dyn Fn(&Report) -> f64| median(mine.iter().map(|r| f(r)).collect());
            Summary {
                target: (*name).to_owned(),
                values: [
                    col(&|r| r.delivered_pps),
                    col(&|r| r.loss * 100.0),
                    col(&|r| r.p50_ms.unwrap_or(f64::NAN)),
                    col(&|r| r.p99_ms.unwrap_or(f64::NAN)),
                    col(&|r| r.cpu_process_per_m),
                    col(&|r| r.cpu_machine_per_m),
                ],
                ratios: [f64::NAN; 2],
            }
        })
        .collect();
    if let Some(first) = out.first().map(|s| s.values) {
        for s in &mut out {
            s.ratios = [s.values[4] / first[4], s.values[5] / first[5]];
        }
    }
    out
}

/// The summary as a text table.
pub(crate) fn table(summary: &[Summary]) -> String {
    let base = summary.first().map_or("", |s| s.target.as_str());
    let mut text = format!("{:<12}", "target");
    for c in COLUMNS {
        text += &format!("{c:>17}");
    }
    text += &format!("{:>17}{:>17}\n", format!("proc/{base}"), format!("machine/{base}"));
    for s in summary {
        text += &format!("{:<12}", s.target);
        for v in s.values.iter().chain(&s.ratios) {
            text += &format!("{v:>17.4}");
        }
        text += "\n";
    }
    text
}

/// Everything as one JSON document.
pub(crate) fn json(args: &Value, reports: &[Report], summary: &[Summary]) -> Value {
    json!({
        "load": args,
        "runs": reports.iter().map(Report::json).collect::<Vec<_>>(),
        "summary": summary.iter().map(|s| {
            let mut o = serde_json::Map::new();
            o.insert("target".into(), s.target.clone().into());
            for (c, v) in COLUMNS.iter().zip(s.values) {
                o.insert((*c).into(), finite(v).into());
            }
            o.insert("cpuProcessRatio".into(), finite(s.ratios[0]).into());
            o.insert("cpuMachineRatio".into(), finite(s.ratios[1]).into());
            Value::Object(o)
        }).collect::<Vec<_>>(),
    })
}

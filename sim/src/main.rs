//! `rtprelay-sim`: runs one seeded simulation and prints its report, or
//! sweeps many seeds and prints the first failing one with the command that
//! replays it. A run that does not finish within a wall-clock limit (a relay
//! call that never returns) fails too. Exit status: 0 all invariants held,
//! 1 a violation or a hang, 2 bad usage.

use clap::Parser;
use rtprelay_sim::net::GilbertElliott;
use rtprelay_sim::scenario::MAX_SUBSCRIBERS;
use rtprelay_sim::{Options, Report, Scenario, Sim, Violation};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

/// Deterministic simulation of the rtprelay core on a virtual network.
#[derive(Parser, Debug, Clone)]
#[command(version, about)]
struct Cli {
    /// The run's seed (with --sweep: the first seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Uniform loss probability per datagram, on every link.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    loss: f64,
    /// Bursty (Gilbert-Elliott) loss: probability per datagram of entering
    /// the bad state; 0 turns bursts off.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    burst_enter: f64,
    /// Probability per datagram of leaving the bad state.
    #[arg(long, default_value_t = 0.3, value_parser = probability)]
    burst_leave: f64,
    /// Loss probability in the bad state.
    #[arg(long, default_value_t = 0.8, value_parser = probability)]
    burst_loss: f64,
    /// Duplication probability per datagram.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    dup: f64,
    /// Reordering probability per datagram.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    reorder: f64,
    /// One-way base delay of every link, in milliseconds.
    #[arg(long, default_value_t = 20)]
    delay_ms: u64,
    /// Delay jitter, in milliseconds.
    #[arg(long, default_value_t = 2)]
    jitter_ms: u64,
    /// Subscribers, alternating between the relay's push and pull sockets.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=MAX_SUBSCRIBERS as u64))]
    subscribers: u64,
    /// The publisher's packet rate, per second.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    rate_pps: u32,
    /// How many packets the publisher sends before it stops (instead of
    /// --duration-secs).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    packets: Option<u64>,
    /// Prints one JSON object with the loss figures instead of the report
    /// (with --sweep: one per seed).
    #[arg(long)]
    json: bool,
    /// How long the publisher streams, in seconds.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    duration_secs: u64,
    /// Prints every step of the run (one seed only).
    #[arg(long, conflicts_with = "sweep")]
    log: bool,
    /// Wall-clock seconds a run may take before it counts as hung.
    #[arg(long, default_value_t = 60)]
    timeout_secs: u64,
    /// Runs this many seeds from --seed on and stops at the first failure.
    #[arg(long)]
    sweep: Option<u64>,
    /// Peers run the real push and pull clients instead of the scripted
    /// legacy ones.
    #[arg(long)]
    clients: bool,
    /// Restarts the relay this many seconds after the start (a fresh
    /// process: all state lost; clients recover, legacy peers do not).
    #[arg(long)]
    restart_at_secs: Option<f64>,
}

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if (0.0..=1.0).contains(&p) { Ok(p) } else { Err(format!("{p} is not a probability in [0, 1]")) }
}

impl Cli {
    fn options(&self, seed: u64) -> Options {
        Options {
            seed,
            loss: self.loss,
            burst: (self.burst_enter > 0.0).then_some(GilbertElliott {
                enter_bad: self.burst_enter,
                leave_bad: self.burst_leave,
                bad_loss: self.burst_loss,
            }),
            duplicate: self.dup,
            reorder: self.reorder,
            delay: Duration::from_millis(self.delay_ms),
            jitter: Duration::from_millis(self.jitter_ms),
            duration: Duration::from_secs(self.duration_secs),
            clients: self.clients,
            restart_at: self.restart_at_secs.map(Duration::from_secs_f64),
            subscribers: self.subscribers as usize,
            packet_interval: Duration::from_secs(1) / self.rate_pps,
            packets: self.packets,
        }
    }

    /// The command that replays `seed` with these settings.
    fn replay_command(&self, seed: u64) -> String {
        let defaults = Cli::parse_from(["rtprelay-sim"]);
        let mut cmd = format!("cargo run -p rtprelay-sim -- --seed {seed}");
        let floats = [
            ("loss", self.loss, defaults.loss),
            ("burst-enter", self.burst_enter, defaults.burst_enter),
            ("burst-leave", self.burst_leave, defaults.burst_leave),
            ("burst-loss", self.burst_loss, defaults.burst_loss),
            ("dup", self.dup, defaults.dup),
            ("reorder", self.reorder, defaults.reorder),
        ];
        for (flag, value, default) in floats {
            if value != default {
                cmd.push_str(&format!(" --{flag} {value}"));
            }
        }
        let ints = [
            ("delay-ms", self.delay_ms, defaults.delay_ms),
            ("jitter-ms", self.jitter_ms, defaults.jitter_ms),
            ("duration-secs", self.duration_secs, defaults.duration_secs),
            ("subscribers", self.subscribers, defaults.subscribers),
            ("rate-pps", u64::from(self.rate_pps), u64::from(defaults.rate_pps)),
        ];
        for (flag, value, default) in ints {
            if value != default {
                cmd.push_str(&format!(" --{flag} {value}"));
            }
        }
        if let Some(n) = self.packets {
            cmd.push_str(&format!(" --packets {n}"));
        }
        if self.clients {
            cmd.push_str(" --clients");
        }
        if let Some(at) = self.restart_at_secs {
            cmd.push_str(&format!(" --restart-at-secs {at}"));
        }
        cmd
    }
}

impl Cli {
    /// The report as asked: the JSON figures or the text.
    fn render(&self, report: &Report) -> String {
        if self.json { report.summary.to_json(report.seed, &report.trace_hash) } else { report.to_string() }
    }
}

/// How one run ended.
enum Outcome {
    Finished(Box<Result<Report, Violation>>),
    Hung,
}

/// Runs `options` on its own thread, so a relay call that never returns
/// is reported instead of hanging the sweep (the thread is abandoned; the
/// process exits soon after).
fn run_guarded(options: Options, log: bool, limit: Duration) -> Outcome {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = Sim::new(Scenario::generate(&options)).with_log(log).run();
        let _ = done.send(outcome);
    });
    match result.recv_timeout(limit) {
        Ok(outcome) => Outcome::Finished(Box::new(outcome)),
        Err(_) => Outcome::Hung,
    }
}

fn fail(cli: &Cli, seed: u64, what: &str) -> ExitCode {
    println!("{what}");
    println!("replay: {}", cli.replay_command(seed));
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let limit = Duration::from_secs(cli.timeout_secs);
    let hung = |seed| format!("HUNG (seed {seed}): the run did not finish within {}s", cli.timeout_secs);
    let Some(count) = cli.sweep else {
        return match run_guarded(cli.options(cli.seed), cli.log, limit) {
            Outcome::Finished(outcome) => match *outcome {
                Ok(report) => {
                    println!("{}", cli.render(&report));
                    ExitCode::SUCCESS
                }
                Err(violation) => fail(&cli, cli.seed, &violation.to_string()),
            },
            Outcome::Hung => fail(&cli, cli.seed, &hung(cli.seed)),
        };
    };
    let (mut sent, mut delivered) = (0u64, 0u64);
    for seed in cli.seed..cli.seed.saturating_add(count) {
        match run_guarded(cli.options(seed), false, limit) {
            Outcome::Finished(outcome) => match *outcome {
                Ok(report) => {
                    if cli.json {
                        println!("{}", cli.render(&report));
                    }
                    sent += report.sent;
                    delivered += report.deliveries.iter().map(|d| d.delivered).sum::<u64>();
                    delivered += report.clients.iter().map(|c| c.delivered).sum::<u64>();
                }
                Err(violation) => return fail(&cli, seed, &format!("sweep: seed {seed} failed\n{violation}")),
            },
            Outcome::Hung => return fail(&cli, seed, &format!("sweep: seed {seed} failed\n{}", hung(seed))),
        }
    }
    println!("sweep: {count} seeds from {} passed ({sent} TS_DATA sent, {delivered} subscriber deliveries)", cli.seed);
    ExitCode::SUCCESS
}

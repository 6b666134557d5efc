//! scratch
use rtprelay_sim::net::GilbertElliott;
use rtprelay_sim::{Options, run};
use std::time::Duration;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let seed: u64 = a[1].parse().unwrap();
    let bursty = a.get(2).is_some_and(|s| s == "b");
    let n: u64 = a.get(3).map_or(100_000, |s| s.parse().unwrap());
    let o = Options {
        seed,
        clients: true,
        subscribers: 3,
        packet_interval: Duration::from_secs(1) / 380,
        packets: Some(n),
        delay: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        loss: if bursty { 0.0 } else { 0.05 },
        burst: bursty.then_some(GilbertElliott { enter_bad: 0.037, leave_bad: 0.333, bad_loss: 1.0 }),
        ..Options::default()
    };
    let r = run(&o).unwrap();
    let c = &r.counters;
    println!("{}", r.summary.to_json(seed, ""));
    println!(
        "abandoned {} push_nacks {} push_recovered {} not_in_hist {} over_budget {} retrans {} nacks_rx {} tail_delayed {}",
        c.push_nack_abandoned,
        c.push_nacks_sent,
        c.push_recovered,
        c.retransmit_not_in_history,
        c.retransmit_over_budget,
        c.retransmitted,
        c.nacks_received,
        c.tail_stops_delayed
    );
    for cl in &r.clients {
        println!("sub {} {:?} missing {}", cl.peer, cl.stats, cl.missing);
    }
}

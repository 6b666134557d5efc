//! CPU time and memory from /proc: one process (or thread), and the
//! whole machine (loopback receive work runs in softirq time, which a
//! per-process figure can miss).

use std::io;

fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100) as f64
}

/// User plus system CPU seconds of the process or thread whose `stat`
/// file is `path` (`/proc/<pid>/stat`, `/proc/self/task/<tid>/stat`).
pub(crate) fn cpu_seconds(path: &str) -> io::Result<f64> {
    let text = std::fs::read_to_string(path)?;
    // Fields after the command name (which may hold spaces) in brackets:
    // state is field 3, utime 14 and stime 15.
    let rest = text.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Ok((field(14) + field(15)) as f64 / ticks_per_second())
}

/// Busy CPU seconds of the whole machine, all cores summed (everything
/// in `/proc/stat` but idle and iowait).
pub(crate) fn machine_busy_seconds() -> io::Result<f64> {
    let text = std::fs::read_to_string("/proc/stat")?;
    let line = text.lines().find(|l| l.starts_with("cpu ")).unwrap_or_default();
    let values: Vec<u64> = line.split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal (guest time is
    // already inside user).
    let busy: u64 = values.iter().take(8).enumerate().filter(|(i, _)| *i != 3 && *i != 4).map(|(_, v)| v).sum();
    Ok(busy as f64 / ticks_per_second())
}

/// Resident memory of process `pid`, in bytes.
pub(crate) fn rss_bytes(pid: u32) -> io::Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| io::Error::other("no VmRSS"))?;
    Ok(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_cpu_time_and_memory() {
        let start = cpu_seconds("/proc/self/stat").unwrap();
        let mut x = 0u64;
        let until = std::time::Instant::now() + std::time::Duration::from_millis(50);
        while std::time::Instant::now() < until {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_seconds("/proc/self/stat").unwrap() > start, "50 ms of spinning shows");
        assert!(machine_busy_seconds().unwrap() > 0.0);
        assert!(rss_bytes(std::process::id()).unwrap() > 100_000);
    }
}

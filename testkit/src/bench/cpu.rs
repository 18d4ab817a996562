//! CPU time from `/proc`: the whole machine's and every process's, so that a benchmark can say
//! what each program (the database's processes too) spent while its load ran.

use std::{collections::HashMap, time::Duration};

/// Linux reports process times in USER_HZ ticks, 100 a second on every ABI it runs on
/// (x86-64, arm64); `sysconf(_SC_CLK_TCK)` would say the same.
const TICKS_PER_SECOND: u64 = 100;

/// CPU time (clock ticks) of the machine and of every process, read from `/proc`. A process
/// that ends between two readings is not counted: read around a load whose processes live
/// through it (pooled database connections do).
pub struct CpuTimes {
    total: u64,
    idle: u64,
    processes: HashMap<u32, (String, u64)>,
}

impl CpuTimes {
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let fields: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .take(8)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total = fields.iter().sum();
        let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
        let processes = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                Some((pid, process_time(&stat)?))
            })
            .collect();
        Self { total, idle, processes }
    }

    /// Busy share of all cores, and each program's share, since `earlier`.
    pub fn since(&self, earlier: &Self) -> (f64, Vec<(String, f64)>) {
        let total = self.total.saturating_sub(earlier.total).max(1) as f64;
        let idle = self.idle.saturating_sub(earlier.idle) as f64;
        let mut programs: Vec<(String, f64)> = self
            .ticks_since(earlier, |_, name| Some(name.to_owned()))
            .into_iter()
            .map(|(name, ticks)| (name, ticks as f64 / total))
            .collect();
        programs.sort_by(|a, b| b.1.total_cmp(&a.1));
        (1.0 - idle / total, programs)
    }

    /// CPU time (user and system) spent since `earlier` by each group of processes; `group`
    /// names a process's group from its pid and program name, or leaves it out.
    pub fn spent_since(&self, earlier: &Self, group: impl Fn(u32, &str) -> Option<String>) -> Vec<(String, Duration)> {
        self.ticks_since(earlier, group)
            .into_iter()
            .map(|(name, ticks)| (name, Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)))
            .collect()
    }

    fn ticks_since(&self, earlier: &Self, group: impl Fn(u32, &str) -> Option<String>) -> Vec<(String, u64)> {
        let mut groups: HashMap<String, u64> = HashMap::new();
        for (pid, (name, ticks)) in &self.processes {
            let Some(key) = group(*pid, name) else { continue };
            let before = earlier.processes.get(pid).map_or(0, |(_, t)| *t);
            *groups.entry(key).or_default() += ticks.saturating_sub(before);
        }
        groups.into_iter().filter(|(_, ticks)| *ticks > 0).collect()
    }
}

/// The program name and user + system ticks of one `/proc/<pid>/stat` (the name is in
/// parentheses and may hold spaces).
fn process_time(stat: &str) -> Option<(String, u64)> {
    let (head, rest) = stat.rsplit_once(')')?;
    let name = head.split_once('(')?.1.to_owned();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_stat_with_spaces_in_its_name() {
        let stat = "42 (tokio rt (w)) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(process_time(stat), Some(("tokio rt (w)".to_owned(), 300)));
    }

    #[test]
    fn counts_this_process_busy_in_its_own_group() {
        let before = CpuTimes::read();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        let after = CpuTimes::read();
        let me = std::process::id();
        let spent = after.spent_since(&before, |pid, _| (pid == me).then(|| "me".to_owned()));
        let mine = spent.iter().find(|(name, _)| name == "me").map_or(Duration::ZERO, |(_, d)| *d);
        // Spinning for 300 ms of wall time is some CPU time, however busy the machine; nothing
        // else is in the group.
        assert!(mine >= Duration::from_millis(10), "{spent:?}");
        assert_eq!(spent.len(), 1, "{spent:?}");
    }
}

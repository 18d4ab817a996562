//! Where the machine's time goes while a load runs: each program's share of the cores (from
//! `/proc`, so it sees every process, the database's too) and the hottest functions of the
//! whole machine (`perf record -a`, kernel included). Taken when a goal is missed, so the
//! report explains the miss with a profile of the same run.

use std::{fmt::Write as _, process::Command, time::Duration};

use super::cpu::CpuTimes;

/// A profile of the whole machine over a few seconds.
#[derive(Debug, Clone)]
pub struct Profile {
    pub seconds: u64,
    /// Share of all cores that was busy.
    pub busy: f64,
    /// Share of all cores per program name, largest first.
    pub programs: Vec<(String, f64)>,
    /// Share of all samples per function, largest first (idle included, as the kernel's
    /// idle functions); empty with the reason when perf could not run.
    pub functions: Result<Vec<HotFunction>, String>,
}

#[derive(Debug, Clone)]
pub struct HotFunction {
    pub share: f64,
    pub object: String,
    pub symbol: String,
}

impl Profile {
    /// Blocks for `duration` while something else runs the load (call it from
    /// `spawn_blocking`, or from a thread).
    pub fn record(duration: Duration) -> Self {
        let data = std::env::temp_dir().join(format!("chat-suite-bench-{}.perf", std::process::id()));
        let before = CpuTimes::read();
        let perf = Command::new("perf")
            .args(["record", "-a", "-F", "499", "-q", "-o"])
            .arg(&data)
            .args(["--", "sleep", &duration.as_secs_f64().to_string()])
            .output();
        let after = CpuTimes::read();
        let functions = match perf {
            Ok(out) if out.status.success() => hot_functions(&data),
            Ok(out) => Err(format!("perf record failed: {}", String::from_utf8_lossy(&out.stderr).trim())),
            Err(e) => Err(format!("perf is not available: {e}")),
        };
        let _ = std::fs::remove_file(&data);
        let (busy, programs) = after.since(&before);
        Self { seconds: duration.as_secs(), busy, programs, functions }
    }

    /// Runs `load` and profiles the machine for `length`, starting `after` into it (past the
    /// load's own set-up and warm-up).
    pub async fn during(after: Duration, length: Duration, load: impl std::future::Future) -> Self {
        let profiling = tokio::task::spawn_blocking(move || {
            std::thread::sleep(after);
            Self::record(length)
        });
        load.await;
        profiling.await.unwrap()
    }

    pub fn markdown(&self) -> String {
        let mut out = format!(
            "### Profile of the same run ({} s under the same load)\n\nThe cores were {:.0} % busy. Share of all cores by program (`/proc`):\n\n| program | share of all cores |\n| --- | --- |\n",
            self.seconds,
            self.busy * 100.0
        );
        for (program, share) in self.programs.iter().take(8) {
            let _ = writeln!(out, "| {program} | {:.1} % |", share * 100.0);
        }
        match &self.functions {
            Ok(functions) => {
                out.push_str(
                    "\nHottest functions of the whole machine (`perf record -a`, share of all samples, idle included):\n\n| share | object | function |\n| --- | --- | --- |\n",
                );
                for f in functions.iter().take(15) {
                    let _ = writeln!(out, "| {:.1} % | {} | `{}` |", f.share * 100.0, f.object, f.symbol);
                }
            }
            Err(why) => {
                let _ = writeln!(out, "\nNo function profile: {why}.");
            }
        }
        out
    }
}

fn hot_functions(data: &std::path::Path) -> Result<Vec<HotFunction>, String> {
    let out = Command::new("perf")
        .arg("report")
        .arg("-i")
        .arg(data)
        .args(["--stdio", "-q", "--no-children", "--sort", "dso,sym", "--percent-limit", "0.7"])
        .output()
        .map_err(|e| format!("perf report: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let functions: Vec<HotFunction> = text.lines().filter_map(parse_report_line).collect();
    if functions.is_empty() {
        return Err(format!("perf report gave nothing: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(functions)
}

/// `    12.34%  libc.so.6   [.] __memmove_avx_unaligned_erms`
fn parse_report_line(line: &str) -> Option<HotFunction> {
    let mut parts = line.split_whitespace();
    let share: f64 = parts.next()?.strip_suffix('%')?.parse().ok()?;
    let object = parts.next()?.to_owned();
    let _kind = parts.next()?;
    let symbol = parts.collect::<Vec<_>>().join(" ");
    Some(HotFunction { share: share / 100.0, object, symbol: shorten(&symbol) })
}

/// Rust symbols carry a hash and long generic paths; keep what a reader needs.
fn shorten(symbol: &str) -> String {
    let symbol = match symbol.rsplit_once("::h") {
        Some((head, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => head,
        _ => symbol,
    };
    let symbol = symbol.replace('|', "\\|");
    if symbol.chars().count() > 100 { format!("{}…", symbol.chars().take(100).collect::<String>()) } else { symbol }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_perf_report_line() {
        let f = parse_report_line("    12.34%  libc.so.6           [.] __memmove_avx_unaligned_erms").unwrap();
        assert_eq!((f.object.as_str(), f.symbol.as_str()), ("libc.so.6", "__memmove_avx_unaligned_erms"));
        assert!((f.share - 0.1234).abs() < 1e-9);
        let rust = parse_report_line("  1.00%  auth-api  [.] argon2::Argon2::fill_blocks::h0123456789abcdef").unwrap();
        assert_eq!(rust.symbol, "argon2::Argon2::fill_blocks");
        assert!(parse_report_line("# header").is_none());
    }
}

//! One benchmark's section of `BENCHMARKS.md`: what was measured and how, a table of
//! figures next to their ceilings and goals, the machine, and, when a goal is missed, the
//! profile taken in the same run and the explanation kept beside the benchmark's code.

use std::fmt::Write as _;

use super::Profile;

/// The machine the figures come from.
#[derive(Debug, Clone)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    pub memory_gib: f64,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| Some(line.strip_prefix("model name")?.split_once(':')?.1.trim().to_owned()))
            .unwrap_or_else(|| "unknown CPU".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        Self { cores, cpu, memory_gib: memory_kib / 1024.0 / 1024.0 }
    }
}

impl std::fmt::Display for Machine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} cores, {}, {:.1} GiB of memory", self.cores, self.cpu, self.memory_gib)
    }
}

/// One line of a benchmark's table. `met` is `None` for a figure without a goal.
#[derive(Debug, Clone)]
pub struct Row {
    pub measure: String,
    pub figure: String,
    pub ceiling: String,
    pub ratio: String,
    pub goal: String,
    pub met: Option<bool>,
}

impl Row {
    /// A figure shown for context, with no ceiling or goal of its own.
    pub fn info(measure: impl Into<String>, figure: impl Into<String>) -> Self {
        Self {
            measure: measure.into(),
            figure: figure.into(),
            ceiling: String::new(),
            ratio: String::new(),
            goal: String::new(),
            met: None,
        }
    }
}

pub struct Report {
    /// File name of the section (its place in BENCHMARKS.md: they are joined in name order).
    key: &'static str,
    title: String,
    method: String,
    rows: Vec<Row>,
    extra: Vec<String>,
    profile: Option<Profile>,
    /// Why a miss happens, written from a profile; shown only when a goal is missed.
    explanation: &'static str,
}

impl Report {
    pub fn new(key: &'static str, title: impl Into<String>, method: impl Into<String>) -> Self {
        Self {
            key,
            title: title.into(),
            method: method.into(),
            rows: Vec::new(),
            extra: Vec::new(),
            profile: None,
            explanation: "",
        }
    }

    pub fn row(&mut self, row: Row) -> &mut Self {
        self.rows.push(row);
        self
    }

    /// A block of Markdown after the main table (a sweep, say).
    pub fn extra(&mut self, markdown: impl Into<String>) -> &mut Self {
        self.extra.push(markdown.into());
        self
    }

    pub fn explanation(&mut self, markdown: &'static str) -> &mut Self {
        self.explanation = markdown;
        self
    }

    pub fn profile(&mut self, profile: Profile) -> &mut Self {
        self.profile = Some(profile);
        self
    }

    pub fn missed(&self) -> bool {
        self.rows.iter().any(|row| row.met == Some(false))
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n{}\n\nMachine: {}.\n\n", self.title, self.method.trim(), Machine::read());
        out.push_str("| measure | figure | ceiling | ratio | goal | |\n| --- | --- | --- | --- | --- | --- |\n");
        for row in &self.rows {
            let verdict = match row.met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {verdict} |",
                row.measure, row.figure, row.ceiling, row.ratio, row.goal
            );
        }
        for block in &self.extra {
            let _ = write!(out, "\n{}\n", block.trim_end());
        }
        if let Some(profile) = &self.profile {
            let _ = write!(out, "\n{}", profile.markdown());
        }
        if self.missed() && !self.explanation.is_empty() {
            let _ = write!(out, "\n### Why the goal is missed\n\n{}\n", self.explanation.trim());
        }
        out
    }

    /// One line per goal for the summary at the top of BENCHMARKS.md.
    pub fn summary(&self) -> String {
        self.rows
            .iter()
            .filter_map(|row| {
                let met = row.met?;
                // A goal on a ratio is read against the ratio.
                let figure =
                    if row.ratio.is_empty() { row.figure.clone() } else { format!("{} ({})", row.figure, row.ratio) };
                Some(format!(
                    "| {} | {} | {figure} | {} | {} |\n",
                    self.title,
                    row.measure,
                    row.goal,
                    if met { "met" } else { "**missed**" }
                ))
            })
            .collect()
    }

    /// Prints the section and, when `BENCH_REPORT_DIR` is set (by `scripts/bench`), writes it
    /// there for BENCHMARKS.md.
    pub fn write(&self) {
        let markdown = self.markdown();
        println!("{markdown}");
        if let Ok(dir) = std::env::var("BENCH_REPORT_DIR") {
            let dir = std::path::Path::new(&dir);
            std::fs::write(dir.join(format!("{}.md", self.key)), markdown).unwrap();
            std::fs::write(dir.join(format!("{}.summary", self.key)), self.summary()).unwrap();
        }
    }
}

/// `value` as a percentage with no decimals.
pub fn percent(value: f64) -> String {
    format!("{:.0} %", value * 100.0)
}

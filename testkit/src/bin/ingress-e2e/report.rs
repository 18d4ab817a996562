//! The stage's figures: printed at the end, written for BENCHMARKS.md as the soak result, and
//! the verdict: nothing failed after its retries and every socket was back in time with the
//! chart's preStop, and no message was lost, duplicated or reordered at any point.

use std::{fmt::Write as _, path::Path, time::Duration};

use crate::{
    chat::SEND_EVERY,
    figures::{Summary, millis},
    pods::ENDPOINT_DELAY,
};

pub struct Phase {
    pub label: String,
    pub pre_stops: String,
    pub took: Duration,
    pub summary: Summary,
}

pub struct Report {
    pub pairs: usize,
    pub workers: u32,
    pub clients: u64,
    pub sent: u64,
    pub received: u64,
    pub checks: Vec<String>,
    pub phases: Vec<Phase>,
    pub whole: Summary,
    pub reconnect_limit: Duration,
    /// Registrations a client saw succeed whose event never reached Kafka.
    pub missing_events: usize,
}

/// A row of the figures table: its name, and its cell for one rollout.
type Row = (&'static str, fn(&Phase) -> String);

const TITLE: &str = "Behind nginx: rolling restarts under load";

impl Report {
    /// The figures of each rollout side by side.
    fn table(&self) -> String {
        let mut t = String::from("| | ");
        t += &self.phases.iter().map(|p| p.label.as_str()).collect::<Vec<_>>().join(" | ");
        t += " |\n| --- |";
        t += &" --- |".repeat(self.phases.len());
        t.push('\n');
        let rows: [Row; 13] = [
            ("preStop sleep", |p| p.pre_stops.clone()),
            ("rollout of all six pods", |p| format!("{:.0} s", p.took.as_secs_f64())),
            ("HTTP requests (failed after their retries)", |p| {
                format!("{} ({})", p.summary.requests, p.summary.failures.len())
            }),
            ("requests that needed a retry", |p| p.summary.requests_retried.to_string()),
            ("retries, by cause", |p| Summary::breakdown(&p.summary.retries)),
            ("requests the proxy re-sent to another pod", |p| p.summary.resent_by_proxy.to_string()),
            ("socket upgrades (re-sent by the proxy to another pod)", |p| {
                format!("{} ({})", p.summary.upgrades, p.summary.upgrades_resent)
            }),
            ("sockets closed, by cause", |p| Summary::breakdown(&p.summary.closes)),
            ("reconnects", |p| p.summary.reconnects.to_string()),
            ("longest reconnect", |p| millis(p.summary.longest_reconnect)),
            ("messages delivered", |p| p.summary.messages.to_string()),
            ("longest gap a chat saw", |p| millis(p.summary.longest_gap)),
            ("messages delivered twice (dropped by id)", |p| p.summary.redelivered.to_string()),
        ];
        for (name, cell) in rows {
            let _ = writeln!(t, "| {name} | {} |", self.phases.iter().map(cell).collect::<Vec<_>>().join(" | "));
        }
        t
    }

    pub fn print(&self) {
        println!("\n{TITLE}\n");
        for check in &self.checks {
            println!("  {check}");
        }
        println!("\n{}\n{}", self.table(), self.difference());
        println!(
            "{} pairs: {} messages stored, {} delivered to the peer; {} HTTP clients went through every step\n",
            self.pairs, self.sent, self.received, self.clients
        );
        for phase in &self.phases {
            for failure in &phase.summary.failures {
                println!("  failed ({}): {failure}", phase.label);
            }
        }
        for violation in &self.whole.violations {
            println!("  VIOLATION: {violation}");
        }
    }

    /// `soak.md` (the section) and `soak.summary` (its rows of the goals table).
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let mut md = format!("## {TITLE}\n\n");
        let _ = write!(
            md,
            "`scripts/e2e` (`scripts/bench soak` for this section): nginx configured as ingress-nginx from the chart's \
             rendered Ingress objects, two pods each of auth-api, user-search and chat-gateway behind it (the chart's \
             settings, on Postgres, Redis and a tansu broker). Under load, every service is rolled one pod at a time as \
             the chart's strategy does it (the new pod ready, then the old one deleted: out of the proxy's endpoints \
             {} s later, SIGTERM after the preStop sleep), first with the chart's preStop sleep, then without. The \
             load: {} pairs chatting (a message every {} ms each way, sent again after a reconnect until stored), and \
             {} clients at a time registering, logging in, looking up and refreshing, each from an address of its own. \
             Clients retry 502/503/504 with backoff and reconnect a closed socket at once, resuming with \
             `last_message_ids`.\n\n",
            ENDPOINT_DELAY.as_secs(),
            self.pairs,
            SEND_EVERY.as_millis(),
            self.workers
        );
        for check in &self.checks {
            let _ = writeln!(md, "- {check}");
        }
        let _ = write!(md, "\n{}\n{}", self.table(), self.difference());
        let _ = write!(
            md,
            "\nIn all: {} messages stored and {} delivered, none lost, duplicated or out of order ({} violations); \
             {} HTTP clients went through every step.\n",
            self.sent,
            self.received,
            self.whole.violations.len(),
            self.clients
        );
        std::fs::write(dir.join("soak.md"), md)?;
        let with = &self.phases[0].summary;
        let mut rows = String::new();
        let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
        let _ = writeln!(
            rows,
            "| {TITLE} | requests failed after retries, chart's preStop (without) | {} of {} ({}) | none | {} |",
            with.failures.len(),
            with.requests,
            self.phases.get(1).map_or(0, |p| p.summary.failures.len()),
            verdict(with.failures.is_empty())
        );
        let _ = writeln!(
            rows,
            "| {TITLE} | requests and upgrades the proxy sent to a stopped pod, chart's preStop (without) | {} ({}) | none | {} |",
            resent(with),
            self.phases.get(1).map_or(0, |p| resent(&p.summary)),
            verdict(resent(with) == 0)
        );
        let _ = writeln!(
            rows,
            "| {TITLE} | longest reconnect, chart's preStop | {} | ≤ {} s | {} |",
            millis(with.longest_reconnect),
            self.reconnect_limit.as_secs(),
            verdict(with.longest_reconnect <= self.reconnect_limit)
        );
        let _ = writeln!(
            rows,
            "| {TITLE} | registrations whose event never reached Kafka | {} | none | {} |",
            self.missing_events,
            verdict(self.missing_events == 0)
        );
        let _ = writeln!(
            rows,
            "| {TITLE} | messages lost, duplicated or out of order | {} of {} | none | {} |",
            self.whole.violations.len(),
            self.sent,
            verdict(self.whole.violations.is_empty())
        );
        std::fs::write(dir.join("soak.summary"), rows)?;
        Ok(())
    }

    /// What the preStop sleep changed, in words, from the two rollouts' figures.
    fn difference(&self) -> String {
        let [with, without] = [&self.phases[0].summary, &self.phases[1].summary];
        format!(
            "Without the preStop sleep the proxy kept sending to each deleted pod until it learnt of the deletion: \
             {} requests and {} of {} socket upgrades reached a pod that had stopped listening and were re-sent \
             to another (with the sleep: {} and {} of {}). nginx re-sends a refused connection, so the clients saw \
             no more than a slower answer here; in a cluster where a stopped pod's address vanishes instead of \
             refusing, each of those waits out the proxy's connect timeout (5 s) first.\n",
            without.resent_by_proxy,
            without.upgrades_resent,
            without.upgrades,
            with.resent_by_proxy,
            with.upgrades_resent,
            with.upgrades
        )
    }

    pub fn verdict(&self) -> anyhow::Result<()> {
        let with = &self.phases[0].summary;
        anyhow::ensure!(self.missing_events == 0, "{} registrations never reached Kafka", self.missing_events);
        anyhow::ensure!(
            resent(with) == 0,
            "with the chart's preStop sleep the proxy still sent {} requests and upgrades to a stopped pod",
            resent(with)
        );
        anyhow::ensure!(
            self.whole.violations.is_empty(),
            "{} messages lost, duplicated or out of order (first: {})",
            self.whole.violations.len(),
            self.whole.violations[0]
        );
        anyhow::ensure!(
            with.failures.is_empty(),
            "{} requests failed after their retries with the chart's preStop (first: {})",
            with.failures.len(),
            with.failures[0]
        );
        anyhow::ensure!(
            with.longest_reconnect <= self.reconnect_limit,
            "a socket took {} to come back with the chart's preStop (limit {} s)",
            millis(with.longest_reconnect),
            self.reconnect_limit.as_secs()
        );
        anyhow::ensure!(
            self.sent > 0 && self.sent == self.received,
            "{} messages stored, {} delivered",
            self.sent,
            self.received
        );
        Ok(())
    }
}

/// Requests and socket upgrades the proxy had to send again, to another pod.
fn resent(s: &Summary) -> u64 {
    s.resent_by_proxy + s.upgrades_resent
}

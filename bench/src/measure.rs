//! Latency percentiles, peak memory and the results table.

use std::time::{Duration, Instant};

#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The `q` quantile (nearest rank).
    pub fn p(&self, q: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort_unstable();
        if v.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1]
    }

    pub fn summary(&self) -> String {
        format!(
            "p50 {} / p99 {} (n={})",
            ms(self.p(0.5)),
            ms(self.p(0.99)),
            self.len()
        )
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Samples until `max`, or until `budget` is spent once `min` were taken; the first three
/// are warm-up (statement cache, page cache, connection) and not kept.
pub struct Sampler {
    min: usize,
    max: usize,
    budget: Duration,
    started: Instant,
    warm: usize,
    l: Latencies,
}

impl Sampler {
    pub fn new(min: usize, max: usize, budget: Duration) -> Self {
        Self {
            min,
            max,
            budget,
            started: Instant::now(),
            warm: 0,
            l: Latencies::default(),
        }
    }

    pub fn more(&self) -> bool {
        let n = self.l.len();
        n < self.max && (n < self.min || self.started.elapsed() < self.budget)
    }

    pub fn record(&mut self, d: Duration) {
        if self.warm < 3 {
            self.warm += 1;
        } else {
            self.l.push(d);
        }
    }

    pub fn done(self) -> Latencies {
        self.l
    }
}

/// Resets the peak resident set (VmHWM) so the next phase reports its own peak.
pub fn reset_peak_rss() {
    // "5" resets the peak RSS (Linux >= 4.0); without it the peak is the process's so far.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// VmHWM of this process: the collector, its agents and clients together.
pub fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or_else(|| "unavailable".into(), |kb| format!("{} MiB", kb / 1024))
}

pub fn thousands(x: f64) -> String {
    count(x.round() as u64)
}

pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub struct Row {
    what: String,
    figure: String,
    target: String,
    pass: Option<bool>,
}

impl Row {
    pub fn figure(
        what: impl Into<String>,
        figure: impl Into<String>,
        target: impl Into<String>,
        pass: Option<bool>,
    ) -> Self {
        Self {
            what: what.into(),
            figure: figure.into(),
            target: target.into(),
            pass,
        }
    }
}

#[derive(Default)]
pub struct Table(Vec<Row>);

impl Table {
    pub fn push(&mut self, row: Row) {
        self.0.push(row);
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| scenario | measured | target (DESIGN.md 8) | result |\n|---|---|---|---|\n",
        );
        for r in &self.0 {
            let result = match r.pass {
                Some(true) => "pass",
                Some(false) => "**miss**",
                None => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                r.what.replace("  ", "&nbsp;&nbsp;"),
                r.figure,
                r.target,
                result
            ));
        }
        out
    }
}

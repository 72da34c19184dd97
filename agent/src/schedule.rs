//! When the service (`landmeter-agent run`) scans: on an interval or a cron expression, with
//! jitter, and when the collector sends a `ScanRequest`; never two scans at once.
//!
//! [`Schedule::next`] is pure (previous nominal time, now, a random draw in, next time out).
//! [`run`] drives it on tokio's clock, so tests run a simulated day under
//! `tokio::time::pause()`. Scans run one after another in the loop: a slow scan delays the
//! next one (missed fire times are skipped, not queued), so one account is never scanned twice
//! at the same time.

use std::future::Future;
use std::str::FromStr as _;
use std::time::Duration;

use chrono::{DateTime, Utc};
use landmeter_proto::v1::ScanRequest;
use tokio::sync::mpsc;

/// What fires a scheduled scan.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// Every so long, the first at start.
    Interval(Duration),
    /// At the times of a cron expression (UTC).
    Cron(Box<cron::Schedule>),
}

/// A trigger and the jitter added to each of its times.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub trigger: Trigger,
    /// Each scan starts up to this long after its nominal time (spreads a fleet's load).
    pub jitter: Duration,
}

/// Parses `"90s"`, `"10m"`, `"6h"`, `"1d"`, `"500ms"` (a number and a unit; sums like
/// `"1h30m"` too).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".to_owned());
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?}: expected a number, e.g. \"6h\" or \"10m\""
            ));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use ms, s, m, h or d)"
                ));
            }
        };
        rest = &rest[unit_len..];
        total += unit
            .checked_mul(u32::try_from(n).map_err(|_| format!("{text:?}: number too large"))?)
            .ok_or_else(|| format!("{text:?}: too long"))?;
    }
    Ok(total)
}

/// Parses a cron expression: five fields with crontab's meaning (`min hour day month
/// weekday`, e.g. `0 3 * * 1-5`; weekday 0 and 7 are Sunday, 1 is Monday) or the `cron`
/// crate's six or seven fields (with seconds, and years; its own weekday numbering).
pub fn parse_cron(text: &str) -> Result<cron::Schedule, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    let full = if fields.len() == 5 {
        // The `cron` crate numbers weekdays 1 (Sunday) to 7: crontab's numbers are
        // translated to names, which both read the same.
        let weekday = crontab_weekdays(fields[4]).map_err(|e| format!("{text:?}: {e}"))?;
        format!(
            "0 {} {} {} {} {weekday}",
            fields[0], fields[1], fields[2], fields[3]
        )
    } else {
        text.trim().to_owned()
    };
    cron::Schedule::from_str(&full).map_err(|e| format!("{text:?}: {e}"))
}

/// A crontab weekday field (`*`, `1-5`, `0,6`, `*/2`, `mon-fri`, `7`) as the names of the days
/// it selects (`MON,TUE,WED,THU,FRI`), or `*`.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    const NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
    if field == "*" || field == "?" {
        return Ok("*".to_owned());
    }
    let day = |s: &str| -> Result<usize, String> {
        if let Ok(n) = s.parse::<usize>() {
            return match n {
                0..=6 => Ok(n),
                7 => Ok(0),
                _ => Err(format!("weekday {n} is not 0-7")),
            };
        }
        NAMES
            .iter()
            .position(|name| name.eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("weekday {s:?} is neither 0-7 nor a day's name"))
    };
    let mut selected = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<usize>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("step {s:?} is not a positive number"))?,
            ),
            None => (item, 1),
        };
        let (first, last) = match range {
            "*" => (0, 6),
            r => match r.split_once('-') {
                // `7` ends a range as Sunday's last number (`5-7` is Friday to Sunday).
                Some((a, b)) => (day(a)?, if b == "7" { 7 } else { day(b)? }),
                None => {
                    let d = day(r)?;
                    (d, d)
                }
            },
        };
        if first > last {
            return Err(format!("weekday range {range:?} runs backwards"));
        }
        for d in (first..=last).step_by(step) {
            selected[d % 7] = true;
        }
    }
    let names: Vec<&str> = (0..7).filter(|d| selected[*d]).map(|d| NAMES[d]).collect();
    Ok(names.join(","))
}

impl Schedule {
    /// The next scan: `(nominal time, time with jitter)`. `previous` is the last nominal
    /// time (None before the first scan); `draw` is uniform in `[0, 1)`.
    ///
    /// Interval: the first scan is due at once, then every interval after the previous
    /// nominal time; when a slow scan overran that, at once (missed times are not caught up).
    /// Cron: the first fire time after `now`.
    pub fn next(
        &self,
        previous: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        draw: f64,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        let nominal = match (&self.trigger, previous) {
            (Trigger::Interval(_), None) => now,
            (Trigger::Interval(every), Some(prev)) => {
                let due =
                    prev + chrono::Duration::from_std(*every).unwrap_or(chrono::Duration::MAX);
                due.max(now)
            }
            (Trigger::Cron(cron), _) => cron
                .after(&now)
                .next()
                // An expression with no future time (a past year): never again.
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        };
        let jitter = self.jitter.mul_f64(draw.clamp(0.0, 1.0));
        let at = nominal
            .checked_add_signed(chrono::Duration::from_std(jitter).unwrap_or_default())
            .unwrap_or(nominal);
        (nominal, at)
    }
}

/// Wall-clock time on tokio's clock: the start's UTC time plus tokio's elapsed time (so it
/// advances under `tokio::time::pause()`, and a stepped system clock does not fire scans twice).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    wall: DateTime<Utc>,
    mono: tokio::time::Instant,
}

impl Clock {
    pub fn starting_at(wall: DateTime<Utc>) -> Clock {
        Clock {
            wall,
            mono: tokio::time::Instant::now(),
        }
    }

    pub fn system() -> Clock {
        Clock::starting_at(Utc::now())
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.wall + chrono::Duration::from_std(self.mono.elapsed()).unwrap_or_default()
    }
}

/// A tiny xorshift for the jitter draw (no cryptographic need).
#[derive(Debug, Clone)]
pub struct Jitter(u64);

impl Jitter {
    pub fn seeded(seed: u64) -> Jitter {
        Jitter(seed | 1)
    }

    pub fn from_entropy() -> Jitter {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        Jitter::seeded(h.finish())
    }

    /// Uniform in `[0, 1)`.
    pub fn draw(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Runs `scan` on `schedule` and on every `ScanRequest`, one scan at a time, for ever.
/// A request that arrives while a scan runs is logged and dropped (that scan covers it).
pub async fn run<F, Fut>(
    schedule: &Schedule,
    clock: Clock,
    mut jitter: Jitter,
    mut requests: mpsc::Receiver<ScanRequest>,
    mut scan: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut previous = None;
    let mut requests_open = true;
    loop {
        let now = clock.now();
        let (nominal, at) = schedule.next(previous, now, jitter.draw());
        let wait = (at - now).to_std().unwrap_or_default();
        tracing::info!(next_scan = %at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "next scheduled scan");
        tokio::select! {
            () = tokio::time::sleep(wait) => {
                previous = Some(nominal);
            }
            request = requests.recv(), if requests_open => match request {
                Some(request) => {
                    crate::metrics::METRICS.scan_requests.add(1);
                    tracing::info!(reason = %request.reason, "scanning now: the collector asked");
                }
                None => {
                    requests_open = false;
                    continue;
                }
            },
        }
        scan().await;
        while let Ok(request) = requests.try_recv() {
            crate::metrics::METRICS.scan_requests.add(1);
            tracing::info!(reason = %request.reason, "collector asked for a scan while one was running; that scan answers it");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn midnight() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z")
            .expect("valid")
            .with_timezone(&Utc)
    }

    /// Runs the scheduler for a simulated day; returns each scan's start (seconds after
    /// midnight) and the most scans seen running at once.
    async fn simulate_day(
        schedule: Schedule,
        scan_takes: Duration,
        requests_at: &[Duration],
    ) -> (Vec<u64>, usize) {
        let clock = Clock::starting_at(midnight());
        let started = tokio::time::Instant::now();
        let starts = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(Mutex::new((0usize, 0usize)));
        let (tx, rx) = mpsc::channel(1);
        let requests_at = requests_at.to_vec();
        let sender = async move {
            for at in requests_at {
                tokio::time::sleep_until(started + at).await;
                let _ = tx.try_send(ScanRequest {
                    reason: "test".to_owned(),
                });
            }
            std::future::pending::<()>().await;
        };
        let scans = {
            let starts = Arc::clone(&starts);
            let running = Arc::clone(&running);
            run(&schedule, clock, Jitter::seeded(7), rx, move || {
                let starts = Arc::clone(&starts);
                let running = Arc::clone(&running);
                async move {
                    starts
                        .lock()
                        .expect("lock")
                        .push(started.elapsed().as_secs());
                    {
                        let mut r = running.lock().expect("lock");
                        r.0 += 1;
                        r.1 = r.1.max(r.0);
                    }
                    tokio::time::sleep(scan_takes).await;
                    running.lock().expect("lock").0 -= 1;
                }
            })
        };
        let day = Duration::from_secs(86_400 - 1);
        let _ = tokio::time::timeout(day, async { tokio::join!(scans, sender) }).await;
        let starts = starts.lock().expect("lock").clone();
        let max = running.lock().expect("lock").1;
        (starts, max)
    }

    fn every(text: &str, jitter: &str) -> Schedule {
        Schedule {
            trigger: Trigger::Interval(parse_duration(text).expect("duration")),
            jitter: parse_duration(jitter).expect("duration"),
        }
    }

    fn cron(text: &str) -> Schedule {
        Schedule {
            trigger: Trigger::Cron(Box::new(parse_cron(text).expect("cron"))),
            jitter: Duration::ZERO,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_interval_fires_the_right_number_of_times_a_day() {
        let (starts, max) = simulate_day(every("6h", "0s"), Duration::from_secs(600), &[]).await;
        assert_eq!(starts, vec![0, 6 * 3600, 12 * 3600, 18 * 3600]);
        assert_eq!(max, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn jitter_stays_within_its_bound() {
        let (starts, _) = simulate_day(every("1h", "10m"), Duration::from_secs(60), &[]).await;
        assert_eq!(starts.len(), 24, "{starts:?}");
        for (i, s) in starts.iter().enumerate() {
            let nominal = i as u64 * 3600;
            assert!(
                *s >= nominal && *s < nominal + 600,
                "scan {i} at {s}s, nominal {nominal}s: {starts:?}"
            );
        }
        assert!(
            starts.iter().skip(1).any(|s| s % 3600 != 0),
            "no jitter at all: {starts:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn cron_fires_at_its_times() {
        let (starts, _) = simulate_day(cron("0 3 * * *"), Duration::from_secs(600), &[]).await;
        assert_eq!(starts, vec![3 * 3600]);
        let (starts, _) = simulate_day(cron("0 */4 * * *"), Duration::from_secs(600), &[]).await;
        assert_eq!(
            starts,
            vec![4 * 3600, 8 * 3600, 12 * 3600, 16 * 3600, 20 * 3600]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_scan_delays_the_next_instead_of_overlapping() {
        // Every 6h, but each scan takes 7h: they run back to back, never two at once.
        let (starts, max) =
            simulate_day(every("6h", "0s"), Duration::from_secs(7 * 3600), &[]).await;
        assert_eq!(starts, vec![0, 7 * 3600, 14 * 3600, 21 * 3600]);
        assert_eq!(max, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_scan_request_scans_now_unless_one_is_running() {
        // Daily at 03:00; requests at 01:00 (idle: scans) and 03:05 (the 03:00 scan runs).
        let (starts, max) = simulate_day(
            cron("0 3 * * *"),
            Duration::from_secs(1800),
            &[
                Duration::from_secs(3600),
                Duration::from_secs(3 * 3600 + 300),
            ],
        )
        .await;
        assert_eq!(starts, vec![3600, 3 * 3600]);
        assert_eq!(max, 1);
    }

    #[test]
    fn durations_and_cron_expressions_parse() {
        for (text, secs) in [
            ("6h", 21_600),
            ("10m", 600),
            ("1h30m", 5_400),
            ("1d", 86_400),
            ("45s", 45),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for bad in ["", "6", "h", "6x", "-1h"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        assert!(parse_cron("0 3 * * *").is_ok());
        assert!(parse_cron("0 0 3 * * *").is_ok());
        assert!(parse_cron("61 3 * * *").is_err());
        assert!(parse_cron("every day").is_err());
        assert!(parse_cron("0 3 * * 8").is_err());
    }

    /// Crontab's weekdays, day by day: 0 and 7 are Sunday, 1-5 Monday to Friday.
    #[test]
    fn five_field_weekdays_mean_what_crontab_means() {
        use chrono::{Datelike, TimeZone, Weekday};
        // Monday 2026-12-07 00:00 UTC: the days of the following week, in order.
        let monday = Utc.with_ymd_and_hms(2026, 12, 7, 0, 0, 0).unwrap();
        let days = |expr: &str| -> Vec<Weekday> {
            parse_cron(expr)
                .unwrap_or_else(|e| panic!("{e}"))
                .after(&(monday - chrono::Duration::seconds(1)))
                .take_while(|t| *t < monday + chrono::Duration::days(7))
                .map(|t| t.weekday())
                .collect()
        };
        use Weekday::*;
        for (expr, want) in [
            ("0 3 * * 0", vec![Sun]),
            ("0 3 * * 7", vec![Sun]),
            ("0 3 * * 1", vec![Mon]),
            ("0 3 * * 6", vec![Sat]),
            ("0 3 * * 1-5", vec![Mon, Tue, Wed, Thu, Fri]),
            ("0 3 * * 5-7", vec![Fri, Sat, Sun]),
            ("0 3 * * 0,6", vec![Sat, Sun]),
            ("0 3 * * mon-fri", vec![Mon, Tue, Wed, Thu, Fri]),
            ("0 3 * * */2", vec![Tue, Thu, Sat, Sun]),
            ("0 3 * * *", vec![Mon, Tue, Wed, Thu, Fri, Sat, Sun]),
        ] {
            assert_eq!(days(expr), want, "{expr}");
        }
    }
}

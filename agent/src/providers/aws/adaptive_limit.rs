//! The adaptive limit of requests in flight to one service in one region (`budget.rs` keeps
//! one per (service, region) below the provider's budget).
//!
//! AIMD, with every cut put to the test. A throttled answer (to a request sent since the last
//! cut) halves the requests in flight, down to one; every unthrottled answer adds 1/limit, so
//! the limit grows back by one per limit's worth of answers. Halving is right when the cloud
//! refuses what goes above a rate (per account, region and API), as clouds do: half the
//! requests in flight, half the rate, and the share of answers that come through doubles (or
//! all come). It is wrong when answers are refused whatever the rate (a share refused by a
//! loaded front end, the bench's `--throttled-share` model): the share that comes through
//! stays the same at half the rate, and each cut only slows the scan down, to one request in
//! flight at the end.
//!
//! So the answers are tallied by the requests in flight when each was sent (powers of two:
//! 1, 2-3, 4-7, ...), and a cut is judged once both its levels, the one it left and the one
//! it went to, have [`JUDGED_AFTER`] answers. It paid if at the lower level at least
//! [`PAYS`] times the share came through, or the throttled share at least halved (just above
//! a rate limit little is throttled, below it nothing). If not, the limit goes back to
//! before the first cut still waiting (the later ones were made on the same evidence), and
//! the service's throttling is taken as a background: the throttled share of all its
//! answers. From then on a throttled answer cuts only when its window has clearly more
//! throttled answers than that share (binomial, three standard deviations and one answer
//! above it), and is retried at once (`budget.rs`). A cut that pays drops the background. A
//! background above [`MAX_BACKGROUND`] is no background: far above a rate limit both levels
//! are nearly all throttled and their shares say nothing, so such a cut stands; and a rate
//! limit coming on top of a background raises the share until every throttled answer cuts
//! again.
//!
//! Below one request in flight the limit paces: when even one request at a time has most of
//! its answers throttled (a rate limit under one request per round trip, 10 a second at
//! 25 ms), each throttled window doubles a space between sends (from one round trip, up to
//! [`MAX_SPACING_US`]), and each unthrottled answer shortens it by an eighth. Without it the
//! SDK's backoff was the only pace there, and at 5 a second one call in ten was refused
//! twenty times in a row (simulated below): a gap in the map where pacing gets every answer.
//!
//! The tallies last across windows (halved as they fill, so they follow change): a service
//! with a few requests in flight, one of ten sharing the budget, gathers the answers to judge
//! by in a few round trips. Simulated below (virtual time: one service, and ten sharing a
//! budget of 48, against both throttling models); measured in bench/README.md, "Round
//! trips", session 18: 30 % refused whatever the rate, 1.4-1.7x the unthrottled scan instead
//! of 2.3-2.4x; rate limits of 30 and 100 a second per region and service kept with every
//! answer, at the same pace, for 2-7 % more requests; at 10 a second (paced), 10 answers of
//! 600 unknown instead of 201.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// The lowest limit, whatever the budget: one request in flight, so a low rate limit can be
/// met (at 25 ms a round trip, even four requests in flight offer about 150 a second).
pub(super) const MIN_LIMIT: usize = 1;

/// Answers needed at each of a cut's two levels before it is judged. Eight, not more: a
/// service sharing the budget with nine others has a few requests in flight, and waiting
/// for more answers keeps it cut for much of a 300-bucket scan (simulated, ten services,
/// 30 % refused: 7 scans in 100 over 2x the unthrottled time with twelve, 5-6 with eight,
/// 20 with sixteen before the background was re-estimated from all answers); a wrong
/// verdict costs a window, as the next cut is judged again.
const JUDGED_AFTER: u32 = 8;

/// A cut pays when the share of answers that come through at the level it went to is at
/// least this many times the share at the level it left. Under a rate limit halving the rate
/// doubles it (less when the limit was only just exceeded: a cut from there may be undone,
/// with a background under a fifth, and the background test still cuts when throttling
/// grows); refused whatever the rate, it stays the same, give or take the noise.
const PAYS: f64 = 1.25;

/// The largest share of throttled answers taken as background (module comment).
const MAX_BACKGROUND: f64 = 0.5;

/// The longest space between two sends when paced: one request each 2 s per service and
/// region (twenty attempts then span more than the SDK's backoff would).
const MAX_SPACING_US: f64 = 2_000_000.0;

/// A level's tally is halved when it reaches this many answers, so old answers weigh less.
const TALLY_SPAN: u32 = 128;

/// Levels of requests in flight: 1, 2-3, 4-7, ..., 128 and more.
const LEVELS: usize = 8;

/// The level of `in_flight` requests in flight (at least one).
fn level(in_flight: usize) -> usize {
    (usize::BITS - 1 - in_flight.max(1).leading_zeros()).min(LEVELS as u32 - 1) as usize
}

/// Answers, and throttled answers, to some requests.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Tally {
    answered: u32,
    throttled: u32,
}

impl Tally {
    fn add(&mut self, throttled: bool) {
        self.answered += 1;
        self.throttled += u32::from(throttled);
    }

    fn plus(self, other: Tally) -> Tally {
        Tally {
            answered: self.answered + other.answered,
            throttled: self.throttled + other.throttled,
        }
    }

    fn came_through(&self) -> f64 {
        1.0 - self.throttled_share()
    }

    fn throttled_share(&self) -> f64 {
        if self.answered == 0 {
            0.0
        } else {
            f64::from(self.throttled) / f64::from(self.answered)
        }
    }

    /// More throttled answers than a background share explains: three standard deviations
    /// and one answer above the expected count. The test is made again at every throttled
    /// answer of a window that may run for hundreds; at two, a 30 % background crossed it by
    /// chance in a few scans in a hundred (the simulations below).
    fn above(&self, background: f64) -> bool {
        let n = f64::from(self.answered);
        let expected = background * n;
        let spread = (n * background * (1.0 - background)).sqrt();
        f64::from(self.throttled) > expected + 3.0 * spread + 1.0
    }
}

/// A cut not yet judged: the limit it started from, the level of requests in flight it left
/// and the level it went to.
#[derive(Debug, Clone, Copy)]
struct Cut {
    from: f64,
    left: usize,
    to: usize,
}

/// What a request was sent under: the window and the level of requests in flight.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sent {
    window: u64,
    level: usize,
    /// When, in microseconds since the limit was made.
    at_us: u64,
}

/// Why a request cannot be sent yet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Wait {
    /// The limit's requests are in flight: until one is answered.
    Full,
    /// Paced below one request per round trip: until then (microseconds).
    Until(u64),
}

/// The limit's state machine, without the waiting (`AdaptiveLimit` adds that).
#[derive(Debug)]
pub(super) struct LimitState {
    max: f64,
    floor: f64,
    pub(super) limit: f64,
    in_flight: usize,
    /// The current window; bumped at every cut and every undoing. A throttled answer to a
    /// request sent in an earlier window does not cut (its window was already halved).
    window: u64,
    /// The current window's answers, and the most requests in flight while it was sent.
    current: Tally,
    peak: usize,
    levels: [Tally; LEVELS],
    judging: Vec<Cut>,
    /// Whether a cut was seen not to pay (and none since paid): the throttling is then a
    /// background share refused whatever the rate, estimated from all the levels' answers.
    refused_whatever_the_rate: bool,
    /// Below one request in flight: the time between sends (0: not paced), the next send's
    /// earliest time, and the round trip measured (both in microseconds).
    spacing_us: f64,
    next_send_us: u64,
    round_trip_us: f64,
    pub(super) throttled: u64,
    pub(super) cuts: u64,
    pub(super) undone: u64,
    pub(super) lowest: f64,
}

impl LimitState {
    pub(super) fn new(max: usize, floor: usize) -> LimitState {
        let (max, floor) = (max.max(1) as f64, floor.clamp(1, max.max(1)) as f64);
        LimitState {
            max,
            floor,
            limit: max,
            in_flight: 0,
            window: 0,
            current: Tally::default(),
            peak: 0,
            levels: [Tally::default(); LEVELS],
            judging: Vec::new(),
            refused_whatever_the_rate: false,
            spacing_us: 0.0,
            next_send_us: 0,
            round_trip_us: 0.0,
            throttled: 0,
            cuts: 0,
            undone: 0,
            lowest: max,
        }
    }

    /// Takes a slot if the limit (and the pace, when paced) allows one more request now.
    pub(super) fn try_send(&mut self, now_us: u64) -> Result<Sent, Wait> {
        if (self.in_flight as f64) >= self.limit.floor() {
            return Err(Wait::Full);
        }
        if self.spacing_us > 0.0 {
            if now_us < self.next_send_us {
                return Err(Wait::Until(self.next_send_us));
            }
            self.next_send_us = now_us + self.spacing_us as u64;
        }
        self.in_flight += 1;
        self.peak = self.peak.max(self.in_flight);
        Ok(Sent {
            window: self.window,
            level: level(self.in_flight),
            at_us: now_us,
        })
    }

    pub(super) fn release(&mut self) {
        self.in_flight -= 1;
    }

    /// Applies an answer's verdict to the limit. True when the answer was throttled but
    /// within the background share: refused whatever the rate, so waiting before the retry
    /// would only idle (`budget.rs`).
    pub(super) fn answered(&mut self, sent: Sent, throttled: bool, now_us: u64) -> bool {
        // From the slot taken to the answer: the wait for the provider's budget counts too,
        // which only makes pacing start a little slower.
        let round_trip = now_us.saturating_sub(sent.at_us) as f64;
        self.round_trip_us = if self.round_trip_us == 0.0 {
            round_trip
        } else {
            0.875 * self.round_trip_us + 0.125 * round_trip
        };
        let tally = &mut self.levels[sent.level];
        tally.add(throttled);
        if tally.answered >= TALLY_SPAN {
            tally.answered /= 2;
            tally.throttled /= 2;
        }
        if sent.window == self.window {
            self.current.add(throttled);
        }
        let mut background = false;
        if throttled {
            self.throttled += 1;
            let ours = self.throttling_is_ours();
            if sent.window == self.window && ours {
                if self.limit <= self.floor && self.overrun_at_one() {
                    self.slow_down();
                }
                self.cut();
            }
            background = !ours;
        } else if self.spacing_us > 0.0 {
            self.spacing_us -= self.spacing_us / 8.0;
            if self.spacing_us < self.round_trip_us / 4.0 {
                self.spacing_us = 0.0;
            }
        } else if self.limit < self.max {
            self.limit = (self.limit + 1.0 / self.limit).min(self.max);
        }
        self.judge();
        background
    }

    /// Whether the current window's throttling calls for a cut: above the background once
    /// one is known, otherwise always.
    fn throttling_is_ours(&self) -> bool {
        self.background()
            .is_none_or(|background| self.current.above(background))
    }

    /// The share of answers throttled whatever the rate, when one was seen: the throttled
    /// share of every level's answers (a rate limit on top raises it, up to
    /// [`MAX_BACKGROUND`], beyond which none is assumed).
    pub(super) fn background(&self) -> Option<f64> {
        let all = self.levels.iter().fold(Tally::default(), |a, t| a.plus(*t));
        let share = all.throttled_share();
        (self.refused_whatever_the_rate && share <= MAX_BACKGROUND).then_some(share)
    }

    /// Whether even one request in flight at a time is mostly refused: a rate limit below one
    /// request per round trip (10 a second at 25 ms), where only pacing the sends helps. To
    /// start, two standard deviations above a half, and never with a background: a share refused
    /// whatever the rate (30 %) crossed a plain half by chance in eight answers one time in
    /// twenty, and pacing then slowed its service for nothing (one bench run of eight at
    /// 0 ms took 3.9 s instead of 1 s).
    fn overrun_at_one(&self) -> bool {
        let one = self.levels[0];
        let n = f64::from(one.answered);
        // Once paced, a plain half keeps slowing it.
        let margin = if self.spacing_us > 0.0 {
            0.0
        } else {
            2.0 * (0.25 / n).sqrt()
        };
        self.background().is_none()
            && one.answered >= JUDGED_AFTER
            && one.throttled_share() > MAX_BACKGROUND + margin
    }

    /// Halves the rate below one request in flight: the sends are spaced by a round trip,
    /// then twice as long at each throttled window, up to [`MAX_SPACING_US`]; each
    /// unthrottled answer shortens the space by an eighth, and below a quarter of a round
    /// trip pacing stops.
    fn slow_down(&mut self) {
        self.spacing_us = (self.spacing_us * 2.0)
            .max(self.round_trip_us)
            .min(MAX_SPACING_US);
    }

    /// Halves the requests in flight: the limit, or the most that were in flight if fewer
    /// (a limit far above what the scan asks of this service is no limit to halve).
    fn cut(&mut self) {
        let from = self.limit;
        self.limit = (self.limit.min(self.peak as f64) / 2.0).max(self.floor);
        let (left, to) = (level(self.peak), level(self.limit as usize));
        if to < left {
            self.judging.push(Cut { from, left, to });
        }
        self.cuts += 1;
        self.lowest = self.lowest.min(self.limit);
        self.next_window();
    }

    fn next_window(&mut self) {
        self.window += 1;
        self.current = Tally::default();
        self.peak = self.in_flight;
    }

    /// Judges the cuts whose two levels have enough answers; undoes one that did not pay.
    fn judge(&mut self) {
        let (mut undo, mut paid_once) = (false, false);
        // An undoing goes back to before the first cut still waiting: the cuts after it were
        // made on the same evidence.
        let top = self.judging.iter().map(|c| c.from).fold(0.0, f64::max);
        let levels = &self.levels;
        self.judging.retain(|cut| {
            let (left, to) = (levels[cut.left], levels[cut.to]);
            if left.answered < JUDGED_AFTER || to.answered < JUDGED_AFTER {
                return true;
            }
            let both = left.plus(to);
            // Paid: more came through, or the throttling at least halved (just above a rate
            // limit little is throttled, and below it nothing).
            if to.came_through() >= PAYS * left.came_through()
                || to.throttled_share() < left.throttled_share() / 2.0
            {
                paid_once = true;
            } else if both.throttled_share() <= MAX_BACKGROUND {
                undo = true;
            }
            false
        });
        if undo {
            self.limit = self.limit.max(top);
            self.refused_whatever_the_rate = true;
            // Pacing answered a rate limit; this throttling does not follow the rate.
            self.spacing_us = 0.0;
            self.undone += 1;
            self.judging.clear();
            self.next_window();
        } else if paid_once {
            // A cut paid: the throttling follows the rate, whatever background was seen.
            self.refused_whatever_the_rate = false;
        }
    }
}

/// A [`LimitState`] that requests wait on.
#[derive(Debug)]
pub(super) struct AdaptiveLimit {
    state: Mutex<LimitState>,
    freed: Notify,
    origin: tokio::time::Instant,
}

impl AdaptiveLimit {
    pub(super) fn new(max: usize, floor: usize) -> AdaptiveLimit {
        AdaptiveLimit {
            state: Mutex::new(LimitState::new(max, floor)),
            freed: Notify::new(),
            origin: tokio::time::Instant::now(),
        }
    }

    fn now_us(&self) -> u64 {
        self.origin.elapsed().as_micros() as u64
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, LimitState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the limit allows one more request in flight.
    pub(super) async fn acquire(self: &Arc<Self>) -> LimitPermit {
        loop {
            // Registered before the check, so a release between the check and the wait
            // still wakes this waiter.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            let wait = self.lock().try_send(self.now_us());
            match wait {
                Ok(sent) => {
                    return LimitPermit {
                        limit: Arc::clone(self),
                        sent,
                    };
                }
                Err(Wait::Full) => freed.await,
                Err(Wait::Until(at_us)) => {
                    let at = self.origin + std::time::Duration::from_micros(at_us);
                    tokio::select! {
                        _ = freed => {}
                        _ = tokio::time::sleep_until(at) => {}
                    }
                }
            }
        }
    }
}

/// One request in flight under an [`AdaptiveLimit`], released on drop.
pub(super) struct LimitPermit {
    limit: Arc<AdaptiveLimit>,
    sent: Sent,
}

impl LimitPermit {
    /// Applies the answer's verdict; true for a throttled answer within the background
    /// share ([`LimitState::answered`]).
    pub(super) fn answered(&self, throttled: bool) -> bool {
        let now = self.limit.now_us();
        let background = self.limit.lock().answered(self.sent, throttled, now);
        // An undone cut raises the limit: waiters may go.
        self.limit.freed.notify_waiters();
        background
    }
}

impl Drop for LimitPermit {
    fn drop(&mut self) {
        self.limit.lock().release();
        self.limit.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    #[tokio::test]
    async fn the_limit_halves_once_per_window_waits_at_the_limit_and_grows_back() {
        let limit = Arc::new(AdaptiveLimit::new(64, 2));
        let state = |l: &AdaptiveLimit| {
            let s = l.lock();
            (s.limit, s.cuts, s.throttled, s.in_flight)
        };
        // 64 requests in flight; all answered "throttled": one cut, not 64.
        let permits: Vec<LimitPermit> =
            futures::future::join_all((0..64).map(|_| limit.acquire())).await;
        for p in &permits {
            p.answered(true);
        }
        drop(permits);
        assert_eq!(state(&limit), (32.0, 1, 64, 0));

        // 32 in flight now: the 33rd waits until one is released.
        let held: Vec<LimitPermit> =
            futures::future::join_all((0..32).map(|_| limit.acquire())).await;
        let next = tokio::time::timeout(std::time::Duration::from_millis(50), limit.acquire());
        assert!(
            next.await.is_err(),
            "a 33rd request went out at a limit of 32"
        );
        drop(held);
        limit.acquire().await.answered(true);
        assert_eq!(state(&limit).0, 16.0);

        // Throttled with four in flight: the requests in flight are halved, not the limit
        // of 16 that was not reached.
        let four: Vec<LimitPermit> =
            futures::future::join_all((0..4).map(|_| limit.acquire())).await;
        four[0].answered(true);
        drop(four);
        assert_eq!(state(&limit).0, 2.0);

        // Throttled however slowly it goes: never below the floor, and no background.
        for _ in 0..20 {
            limit.acquire().await.answered(true);
        }
        assert_eq!(state(&limit).0, 2.0);
        assert_eq!(limit.lock().background(), None);

        // Answers without throttling grow it back to the whole budget, never beyond.
        for _ in 0..3000 {
            limit.acquire().await.answered(false);
        }
        assert_eq!(state(&limit).0, 64.0);
    }

    /// A state whose answers at 32-63 requests in flight were `throttled` of `answered`,
    /// cut from 40 in flight to 20 (the levels of 32 and of 16 in flight).
    fn cut_from_40(answered: u32, throttled: u32) -> LimitState {
        let mut s = LimitState::new(64, 1);
        s.levels[level(32)] = Tally {
            answered,
            throttled,
        };
        s.peak = 40;
        s.cut();
        assert_eq!((s.limit, s.judging.len()), (20.0, 1));
        s
    }

    fn at(s: &LimitState, in_flight: usize) -> Sent {
        Sent {
            window: s.window,
            level: level(in_flight),
            at_us: 0,
        }
    }

    #[test]
    fn a_cut_that_does_not_raise_the_share_that_comes_through_is_undone() {
        let mut s = cut_from_40(30, 10);
        s.spacing_us = 50_000.0;
        // At 16-31 in flight, a third throttled again: judged at the eighth answer, the cut
        // did not pay; back to the whole budget, with a third as the background.
        s.levels[level(20)] = Tally {
            answered: 7,
            throttled: 2,
        };
        s.judge();
        assert_eq!((s.limit, s.undone), (20.0, 0), "judged early: {s:?}");
        s.answered(at(&s, 20), false, 0);
        assert_eq!((s.limit, s.undone), (64.0, 1), "{s:?}");
        assert_eq!(s.spacing_us, 0.0, "still paced: {s:?}");
        let background = s.background().expect("background");
        assert!((0.25..0.4).contains(&background), "{background}");
        // Throttled at that background again: no cut, and each throttled answer is one to
        // retry at once.
        for i in 0..60 {
            let retry_at_once = s.answered(at(&s, 50), i % 3 == 0, 0);
            assert_eq!(retry_at_once, i % 3 == 0);
        }
        assert_eq!((s.limit, s.cuts), (64.0, 1));
        // A rate limit on top: every answer throttled. The background estimate rises with
        // them, and once past half, every throttled answer cuts again.
        for _ in 0..40 {
            s.answered(at(&s, 50), true, 0);
        }
        assert!(s.cuts >= 2 && s.limit <= 32.0, "{s:?}");
    }

    #[test]
    fn a_cut_that_lets_more_answers_through_stands() {
        // Half throttled at the higher level, none at the lower: the cut paid and stands, and
        // no background is taken.
        let mut s = cut_from_40(30, 15);
        for _ in 0..8 {
            s.answered(at(&s, 20), false, 0);
        }
        assert!((20.0..21.0).contains(&s.limit), "{s:?}");
        assert_eq!((s.undone, s.judging.len(), s.background()), (0, 0, None));
    }

    #[test]
    fn nearly_all_throttled_at_both_levels_is_no_background() {
        // Far above a rate limit the shares say nothing: the cut stands.
        let mut s = cut_from_40(30, 29);
        for i in 0..8 {
            s.answered(at(&s, 20), i != 3, 0);
        }
        assert_eq!((s.undone, s.judging.len(), s.background()), (0, 0, None));
        assert!(s.limit <= 20.0, "{s:?}");
    }

    /// A scan in virtual time: `requests` calls, each one round trip, all wanted at once,
    /// retried after a throttled answer with the SDK's standard backoff as the agent
    /// configures it (`sdk.rs`: jittered, 25 ms doubling, at most 250 ms, twenty attempts).
    /// Returns the scan's time, the calls that failed every attempt and the answers
    /// throttled.
    fn simulate(seed: u64, budget: usize, requests: usize, clouds: Vec<Box<dyn Cloud>>) -> Run {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        const RTT_US: u64 = 25_000;
        let mut clouds = clouds;
        let services = clouds.len();
        let mut rng = Lcg(seed);
        let mut states: Vec<LimitState> = (0..services)
            .map(|_| LimitState::new(budget, MIN_LIMIT))
            .collect();
        // (time, service, attempt, Some((window, level, sent at)) for an answer, or None for
        // a retry that is due (attempt 0: a paced service's next send is due)
        type Event = Reverse<(u64, usize, u32, Option<(u64, usize, u64)>)>;
        let mut events: BinaryHeap<Event> = BinaryHeap::new();
        // The calls waiting per service, by attempt; spread evenly over the services.
        let mut waiting: Vec<VecDeque<u32>> = (0..services)
            .map(|s| (s..requests).step_by(services).map(|_| 1).collect())
            .collect();
        let (mut now, mut in_flight, mut next) = (0u64, 0usize, 0usize);
        let mut wake_at: Vec<Option<u64>> = vec![None; services];
        let (mut failed, mut throttled, mut sent) = (0u32, 0u32, 0u64);
        loop {
            // The budget's requests in flight, taken round the services.
            let mut idle = 0;
            while in_flight < budget && idle < services {
                let service = next;
                next = (next + 1) % services;
                let window = match waiting[service].front() {
                    Some(_) => states[service].try_send(now),
                    None => Err(Wait::Full),
                };
                let window = match window {
                    Ok(window) => window,
                    Err(wait) => {
                        if let Wait::Until(at) = wait
                            && wake_at[service] != Some(at)
                        {
                            wake_at[service] = Some(at);
                            events.push(Reverse((at, service, 0, None)));
                        }
                        idle += 1;
                        continue;
                    }
                };
                idle = 0;
                let attempt = waiting[service].pop_front().expect("a call");
                in_flight += 1;
                sent += 1;
                let sent_as = Some((window.window, window.level, window.at_us));
                events.push(Reverse((now + RTT_US, service, attempt, sent_as)));
            }
            let Some(Reverse((at, service, attempt, window))) = events.pop() else {
                break;
            };
            now = at;
            let Some((window, level, at_us)) = window else {
                if attempt > 0 {
                    waiting[service].push_back(attempt);
                }
                continue;
            };
            let window = Sent {
                window,
                level,
                at_us,
            };
            in_flight -= 1;
            let refused = clouds[service].refuses(now, &mut rng);
            let background = states[service].answered(window, refused, now);
            states[service].release();
            if !refused {
                continue;
            }
            throttled += 1;
            if attempt == 20 {
                failed += 1;
                continue;
            }
            // `x-amz-retry-after: 0` for a background refusal (`budget.rs`), else the SDK's
            // backoff.
            let cap = (25_000u64 << (attempt - 1).min(10)).min(250_000);
            let wait = if background {
                0
            } else {
                (rng.next() * cap as f64) as u64
            };
            events.push(Reverse((now + wait, service, attempt + 1, None)));
        }
        let first = &states[0];
        Run {
            seconds: now as f64 / 1e6,
            failed,
            throttled,
            sent,
            cuts: states.iter().map(|s| s.cuts).sum(),
            undone: states.iter().map(|s| s.undone).sum(),
            background: first.background(),
            limit: first.limit,
        }
    }

    #[derive(Debug)]
    struct Run {
        seconds: f64,
        failed: u32,
        throttled: u32,
        sent: u64,
        cuts: u64,
        undone: u64,
        background: Option<f64>,
        limit: f64,
    }

    fn shares(services: usize, share: f64) -> Vec<Box<dyn Cloud>> {
        (0..services)
            .map(|_| Box::new(Share(share)) as Box<dyn Cloud>)
            .collect()
    }

    trait Cloud {
        fn refuses(&mut self, now_us: u64, rng: &mut Lcg) -> bool;
    }

    /// Refuses a share of requests whatever the rate.
    struct Share(f64);
    impl Cloud for Share {
        fn refuses(&mut self, _: u64, rng: &mut Lcg) -> bool {
            rng.next() < self.0
        }
    }

    /// Refuses what goes above a rate: a token bucket holding a tenth of a second's worth (at
    /// least one request).
    struct Rate {
        per_second: f64,
        tokens: f64,
        at_us: u64,
    }
    impl Cloud for Rate {
        fn refuses(&mut self, now_us: u64, _: &mut Lcg) -> bool {
            let burst = (self.per_second / 10.0).max(1.0);
            self.tokens =
                (self.tokens + (now_us - self.at_us) as f64 / 1e6 * self.per_second).min(burst);
            self.at_us = now_us;
            if self.tokens >= 1.0 {
                self.tokens -= 1.0;
                false
            } else {
                true
            }
        }
    }

    /// A deterministic random source for the simulations.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn refused_whatever_the_rate_the_scan_keeps_its_pace() {
        // One service taking the whole budget, and ten sharing it (five regions' S3 and KMS,
        // as the bench's 300 buckets); twenty scans each.
        for services in [1, 10] {
            let mut ratios: Vec<f64> = (1..=20)
                .map(|seed| {
                    let unthrottled = simulate(seed, 48, 1_600, shares(services, 0.0));
                    let throttled = simulate(seed, 48, 1_600, shares(services, 0.3));
                    let what = format!("{services} services, seed {seed}: {throttled:?}");
                    assert_eq!(throttled.failed, 0, "{what}");
                    assert!(throttled.undone >= 1, "never undone: {what}");
                    throttled.seconds / unthrottled.seconds
                })
                .collect();
            ratios.sort_by(f64::total_cmp);
            // Sent at 48 in flight, 1,600 calls are 34 round trips; the retries add a bit less
            // than half (1 / 0.7), the cuts before the first verdict and the unluckiest
            // call's refusals in a row the rest. Cut to one request in flight (plain AIMD),
            // 3-4x.
            let (median, worst) = (ratios[10], ratios[19]);
            assert!(
                median < 1.7,
                "{services} services: median {median:.2}x: {ratios:?}"
            );
            assert!(
                worst < 4.0,
                "{services} services: worst {worst:.2}x: {ratios:?}"
            );
        }
    }

    #[test]
    fn a_rate_limit_is_kept_and_every_call_answered() {
        // 5 and 10 a second are below one request per round trip (40 a second): paced.
        let rates = [5.0, 10.0, 30.0, 100.0, 400.0];
        for (seed, per_second) in (1..=3).flat_map(|s| rates.map(|r| (s, r))) {
            let cloud = Rate {
                per_second,
                tokens: per_second / 10.0,
                at_us: 0,
            };
            let run = simulate(seed, 48, 600, vec![Box::new(cloud)]);
            let what = format!("seed {seed}, {per_second}/s: {run:?}");
            assert_eq!(run.failed, 0, "{what}");
            assert!(run.cuts > 0 && run.limit < 48.0, "{what}");
            // The limit's pace: at most 600 / rate, plus a fifth; paced (below one request
            // per round trip), plus two fifths: each throttled window doubles the space
            // between sends, and it shortens again an eighth per answer.
            let bound = 600.0 / per_second;
            let slack = if per_second < 40.0 { 1.4 } else { 1.2 };
            assert!(run.seconds < slack * bound + 0.5, "{what}");
            // Offered not far above the limit: at four requests in flight (the old floor),
            // 30 a second would refuse four attempts in five; and no background taken.
            let share = f64::from(run.throttled) / run.sent as f64;
            assert!(share < 0.6, "{share:.2} throttled, {what}");
            assert_eq!(run.background, None, "{what}");
        }
    }
}

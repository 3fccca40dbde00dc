//! Supply forecasts: when will a toner (or any supply with a level) be
//! empty? Pure: no I/O, no clock (`now` is an argument), tested without a
//! database. The store gives the history, the HTTP layer the answer.
//!
//! # Method
//! 1. **Readings.** Levels in percent (`0..=100`; other values and states
//!    without a number are left out), in time order. The server stores a
//!    reading only when a supply changes, so the last level still held
//!    when the device was last seen (`observed_until`) is added: a level
//!    that did not move for a week is a week of no use, not a gap.
//! 2. **Cartridges.** A level more than [`REPLACEMENT_JUMP`] points above
//!    the lowest level of the cartridge so far is a new cartridge (a
//!    replacement or a refill); only the current cartridge is used.
//! 3. **Daily samples.** Readings at 100 % are left out (a full
//!    cartridge reads 100 % for a while: levels are clamped). The level is
//!    a step function of time; it is sampled once a day over the last
//!    [`WINDOW_DAYS`] of the current cartridge (and at the last
//!    observation). Equal spacing keeps a device that reports often from
//!    weighing more than one that reports rarely, and a day without change
//!    counts as a day without use.
//! 4. **Use per day.** The least-squares slope through the samples: the
//!    mean use (a median-based slope such as Theil–Sen's follows the
//!    typical day and misses the heavy ones when use is skewed). **Level
//!    now:** the median of the last [`RECENT_SAMPLES`] samples, each
//!    carried to the end along the slope. Days left = level ÷ use.
//! 5. **Range (80 %).** The level is a sum of days' use, a random walk
//!    with drift, so the scatter of the readings around a line says
//!    little; the daily use does. Its variance is split into what
//!    accumulates (real use varying, σ², also measured on whole weeks so
//!    that quiet weekends count as use, not as error) and the sensor's
//!    error ε² of each reading (a negative lag-1 autocovariance of the
//!    daily use). The mean use is known to √(1.2 σ²/n + 12 ε²/n³) over n
//!    days (least squares through a random walk and through white noise),
//!    and the next T days will average it give or take σ/√T. Their
//!    relative sum `s` gives the range on a log scale,
//!    `level / (use · e^{±1.28 s})` (use is a sum of positive, skewed days:
//!    its mean is more often under the truth than over it), with the level
//!    give or take max(1 point, ε), and never narrower than
//!    ±[`MIN_RELATIVE_HALF_WIDTH`] of the point.
//! 6. **Changing use.** The daily use is split where the means before and
//!    after differ most (at least [`CHANGE_MIN_DAYS`] days each side); a
//!    difference over [`CHANGE_Z`] standard errors is a change. Then the
//!    point comes from the days after it, and the range covers both the
//!    recent and the whole window's estimate.
//! 7. **Unknown** when the current cartridge has fewer than
//!    [`MIN_DAYS`] days of history or a fitted drop under [`MIN_DROP`]
//!    points (too few), when the level does not go down (not draining:
//!    no use, nothing to predict), or when the scatter around the line
//!    (1.4826 × the median absolute residual) is more than
//!    [`MAX_NOISE_SHARE`] of the fitted drop (too noisy).
//!
//! # Assumptions
//! Use continues as in the window (the method cannot see a change to
//! come); the level falls in proportion to use, to 0 %; levels are
//! percent of capacity. A device that stops reporting keeps its last
//! forecast: the line is extrapolated to `now`. Levels reported in coarse
//! steps (10 % on many printers) are known to half a step (the median
//! change between readings), whichever way the device rounds.
//!
//! # With pages ([`forecast_with_pages`])
//! Where the device counts pages, the use can be measured in pages (exact)
//! times the cartridge's yield: the least-squares slope of the level
//! against the pages printed over the window, in percent per page, the
//! scatter around it being the sensor's error. The day-to-day variation is
//! then that of the pages; the yield's own uncertainty and the line's at
//! the last reading are added; a change of use is looked for in the pages
//! (with a higher bar, [`CHANGE_Z_PAGES`]: exact counts make small
//! differences significant). The backtest shows it no better than the
//! levels alone on the simulated kinds of use (narrower ranges for noisy
//! use, coverage a little under), and worse-covered on coarse levels, so
//! the API forecasts from the levels; this variant stays measured beside it.
//!
//! Accuracy is measured by [`backtest`] (`cargo run --example
//! forecast_backtest -p printwatch-server`, BENCHMARKS.md): steady, noisy
//! and changing use, with replacements.

pub mod backtest;

use printwatch_snapshot::Supply;
use schemars::JsonSchema;
use serde::Serialize;

use crate::model::SupplyReading;

/// A rise of more than this many points above the cartridge's lowest level
/// is a new cartridge.
pub const REPLACEMENT_JUMP: f64 = 10.0;
/// The fit uses at most the last this many days of the current cartridge.
pub const WINDOW_DAYS: f64 = 45.0;
/// Fewer days of the current cartridge than this: unknown (too few).
pub const MIN_DAYS: f64 = 4.0;
/// A fitted drop over the window of fewer points than this: unknown (too few).
pub const MIN_DROP: f64 = 2.0;
/// Scatter around the line above this share of the fitted drop: unknown (too noisy).
pub const MAX_NOISE_SHARE: f64 = 0.35;
/// The range is never narrower than this share of the time left, each side.
pub const MIN_RELATIVE_HALF_WIDTH: f64 = 0.10;
/// Readings at or above this are "full" (clamped), not a level to fit.
const FULL: f64 = 99.5;
/// z of a two-sided 80 % interval.
const Z80: f64 = 1.281_551_565_545;
const DAY: f64 = 86_400.0;

/// One level reading of a supply.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LevelPoint {
    /// UNIX seconds.
    pub at: i64,
    /// Percent of capacity.
    pub percent: f64,
}

/// Whether a forecast could be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastStatus {
    /// A date is predicted (`empty_at`, with a range).
    Predicted,
    /// The level is 0 % already.
    Empty,
    /// No prediction: see `reason`.
    Unknown,
}

/// Why no date is predicted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum UnknownReason {
    /// Too little history on the current cartridge (days or level drop).
    TooFew,
    /// The level does not go down: no use seen.
    NotDraining,
    /// The readings scatter too much around any line.
    TooNoisy,
}

/// Days until a supply is empty: a point estimate and an 80 % range.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Forecast {
    pub status: ForecastStatus,
    /// Set when `status` is `unknown`.
    pub reason: Option<UnknownReason>,
    /// Days from the time of asking until empty (0 when it should be empty already).
    pub days_left: Option<f64>,
    /// The short end of the 80 % range, in days from the time of asking.
    pub days_left_low: Option<f64>,
    /// The long end of the 80 % range, in days from the time of asking.
    pub days_left_high: Option<f64>,
    /// When it is expected empty (UNIX seconds).
    pub empty_at: Option<i64>,
    /// The fitted use, in percent of capacity per day.
    pub percent_per_day: Option<f64>,
    /// The level the line gives at the last observation, percent.
    pub level: Option<f64>,
    /// When the current cartridge was first seen (UNIX seconds).
    pub cartridge_since: Option<i64>,
    /// Use changed within the window: the estimate follows the recent days.
    pub use_changed: bool,
}

impl Forecast {
    fn unknown(reason: UnknownReason, cartridge_since: Option<i64>) -> Forecast {
        Forecast {
            status: ForecastStatus::Unknown,
            reason: Some(reason),
            days_left: None,
            days_left_low: None,
            days_left_high: None,
            empty_at: None,
            percent_per_day: None,
            level: None,
            cartridge_since,
            use_changed: false,
        }
    }
}

/// A Theil–Sen line `y = a + b x`.
#[derive(Clone, Copy, Debug)]
struct Fit {
    a: f64,
    b: f64,
    /// 1.4826 × median absolute residual.
    scatter: f64,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The line through the daily samples: the least-squares slope (the
/// mean use: a median-based slope such as Theil–Sen's follows the typical
/// day and misses the heavy ones when use is skewed), anchored at the
/// median of what the slope leaves (robust to a wrong reading). None
/// with fewer than three points or no two distinct x.
fn fit_line(xs: &[f64], ys: &[f64]) -> Option<Fit> {
    let n = xs.len();
    if n < 3 || ys.len() != n {
        return None;
    }
    let nf = n as f64;
    let mx = xs.iter().sum::<f64>() / nf;
    let my = ys.iter().sum::<f64>() / nf;
    let sxx: f64 = xs.iter().map(|x| (x - mx).powi(2)).sum();
    if sxx <= 0.0 {
        return None;
    }
    let sxy: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let b = sxy / sxx;
    let mut rest: Vec<f64> = xs.iter().zip(ys).map(|(x, y)| y - b * x).collect();
    let a = median(&mut rest)?;
    let mut abs: Vec<f64> = xs
        .iter()
        .zip(ys)
        .map(|(x, y)| (y - a - b * x).abs())
        .collect();
    let scatter = 1.4826 * median(&mut abs)?;
    Some(Fit { a, b, scatter })
}

/// The readings of the current cartridge, in time order: the points
/// after the last rise of more than [`REPLACEMENT_JUMP`].
pub fn current_cartridge(points: &[LevelPoint]) -> Vec<LevelPoint> {
    let mut sorted: Vec<LevelPoint> = points
        .iter()
        .filter(|p| p.percent.is_finite() && (0.0..=100.0).contains(&p.percent))
        .copied()
        .collect();
    sorted.sort_by_key(|p| p.at);
    let mut start = 0;
    let mut lowest = f64::INFINITY;
    for (i, p) in sorted.iter().enumerate() {
        if p.percent > lowest + REPLACEMENT_JUMP {
            start = i;
            lowest = p.percent;
        } else {
            lowest = lowest.min(p.percent);
        }
    }
    sorted.split_off(start)
}

/// Forecast one supply from its level history. `observed_until`: the last
/// time the device was seen (its last level still held then); `now`: the
/// time of asking, from which days are counted.
pub fn forecast(points: &[LevelPoint], observed_until: Option<i64>, now: i64) -> Forecast {
    forecast_with_pages(points, &[], observed_until, now)
}

/// A reading of the page counter that drives a supply's use (`total`, or
/// `total_color` for a colour toner), as stored: it may reset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PagePoint {
    pub at: i64,
    pub value: i64,
}

/// [`forecast`], with the device's page counter where it has one: the
/// use per day is measured in pages (exact) times the cartridge's yield
/// in percent per page (fitted), rather than in whole percents.
pub fn forecast_with_pages(
    points: &[LevelPoint],
    pages: &[PagePoint],
    observed_until: Option<i64>,
    now: i64,
) -> Forecast {
    let cartridge = current_cartridge(points);
    let (Some(first), Some(last)) = (cartridge.first(), cartridge.last()) else {
        return Forecast::unknown(UnknownReason::TooFew, None);
    };
    let since = Some(first.at);
    if last.percent <= 0.0 {
        return Forecast {
            status: ForecastStatus::Empty,
            reason: None,
            days_left: Some(0.0),
            days_left_low: Some(0.0),
            days_left_high: Some(0.0),
            empty_at: Some(last.at),
            percent_per_day: None,
            level: Some(0.0),
            cartridge_since: since,
            use_changed: false,
        };
    }
    let end = observed_until.map_or(last.at, |o| o.max(last.at));
    // A full cartridge reads 100 % for a while: levels are clamped, and
    // those readings say only "at least 100". The fit starts after them.
    let cartridge = match cartridge.iter().position(|p| p.percent < FULL) {
        Some(i) => &cartridge[i..],
        None => return Forecast::unknown(UnknownReason::NotDraining, since),
    };
    let first = cartridge[0];
    if ((end - first.at) as f64) < MIN_DAYS * DAY {
        return Forecast::unknown(UnknownReason::TooFew, since);
    }
    // Daily samples of the step function over the window.
    let start = first.at.max(end - (WINDOW_DAYS * DAY) as i64);
    let level_at = |t: i64| {
        cartridge
            .iter()
            .take_while(|p| p.at <= t)
            .last()
            .map_or(first.percent, |p| p.percent)
    };
    let mut xs = vec![];
    let mut ys = vec![];
    let span = (end - start) as f64 / DAY;
    let mut k = 0.0;
    while k <= span {
        xs.push(k);
        ys.push(level_at(start + (k * DAY) as i64));
        k += 1.0;
    }
    if xs.last().is_some_and(|&x| x < span) {
        xs.push(span);
        ys.push(level_at(end));
    }
    let Some(full) = fit_line(&xs, &ys) else {
        return Forecast::unknown(UnknownReason::TooFew, since);
    };
    let drop = -full.b * span;
    if full.b >= 0.0 || drop <= 0.0 {
        return Forecast::unknown(UnknownReason::NotDraining, since);
    }
    if drop < MIN_DROP {
        return Forecast::unknown(UnknownReason::TooFew, since);
    }
    if full.scatter > MAX_NOISE_SHARE * drop {
        return Forecast::unknown(UnknownReason::TooNoisy, since);
    }
    let paged = page_samples(pages, start, &xs).and_then(|ps| {
        let whole = Estimate::with_pages(&xs, &ys, &ps, 0)?;
        Some((ps, whole))
    });
    let (whole, recent) = match paged {
        Some((ps, whole)) => {
            // Use changed: the same yield, the pages since the change.
            let used: Vec<f64> = ps.iter().map(|p| -p).collect();
            let recent = change_point(&used, CHANGE_Z_PAGES)
                .and_then(|k| Estimate::with_pages(&xs, &ys, &ps, k));
            (whole, recent)
        }
        None => {
            let whole = Estimate::of(&xs, &ys, full, span);
            // Has use changed? The split of the daily use into "before"
            // and "after" whose means differ most; a difference beyond
            // CHANGE_Z standard errors is a change, and the days after it
            // are refitted.
            let recent = change_point(&ys, CHANGE_Z).and_then(|k| {
                let (rx, ry) = (&xs[k..], &ys[k..]);
                fit_line(rx, ry).map(|fit| Estimate::of(rx, ry, fit, span))
            });
            (whole, recent)
        }
    };
    let recent = recent.filter(|e| e.rate > 0.0);
    // Levels reported in coarse steps (10 % on many printers) are known
    // only to half a step, whether the device rounds up, down or to the
    // nearest: the step is the median change between readings.
    let mut changes: Vec<f64> = cartridge
        .windows(2)
        .map(|w| (w[1].percent - w[0].percent).abs())
        .filter(|d| *d > 0.0)
        .collect();
    let half_step = median(&mut changes).unwrap_or(1.0) / 2.0;
    let (whole, recent) = (
        whole.with_half_step(half_step),
        recent.map(|e| e.with_half_step(half_step)),
    );
    let estimates: Vec<Estimate> = match recent {
        Some(r) => vec![r, whole],
        None => vec![whole],
    };
    let point = estimates[0];
    if point.rate <= 0.0 {
        return Forecast::unknown(UnknownReason::NotDraining, since);
    }
    let point_days = point.level / point.rate;
    let mut low = f64::INFINITY;
    let mut high: f64 = 0.0;
    for e in &estimates {
        let (l, h) = e.range();
        low = low.min(l);
        high = high.max(h);
    }
    let min_half = MIN_RELATIVE_HALF_WIDTH * point_days;
    let low = low.min(point_days - min_half).max(0.0);
    let high = high.max(point_days + min_half);
    // Counted from the time of asking.
    let ahead = (now - end) as f64 / DAY;
    let from_now = |d: f64| (d - ahead).max(0.0);
    Forecast {
        status: ForecastStatus::Predicted,
        reason: None,
        days_left: Some(from_now(point_days)),
        days_left_low: Some(from_now(low)),
        days_left_high: high.is_finite().then(|| from_now(high)),
        empty_at: Some(end.saturating_add((point_days * DAY).min(1e12) as i64)),
        percent_per_day: Some(point.rate),
        level: Some(point.level),
        cartridge_since: since,
        use_changed: recent.is_some(),
    }
}

/// Pages printed since the window's start at each daily sample (`xs` in
/// days from `start`), from the counter's readings: a counter that went
/// down counts from the reset, as in billing. None without a reading by
/// the window's first day or without pages printed.
fn page_samples(pages: &[PagePoint], start: i64, xs: &[f64]) -> Option<Vec<f64>> {
    let mut sorted = pages.to_vec();
    sorted.sort_by_key(|p| p.at);
    if sorted.first()?.at > start.saturating_add(DAY as i64) {
        return None;
    }
    let mut total = 0i64;
    let mut prev: Option<i64> = None;
    let cumulative: Vec<(i64, i64)> = sorted
        .iter()
        .map(|p| {
            if let Some(before) = prev {
                let step = if p.value < before {
                    p.value
                } else {
                    p.value - before
                };
                total = total.saturating_add(step.max(0));
            }
            prev = Some(p.value);
            (p.at, total)
        })
        .collect();
    let at = |t: i64| {
        cumulative
            .iter()
            .take_while(|(a, _)| *a <= t)
            .last()
            .map_or(0, |(_, c)| *c)
    };
    let base = at(start);
    let ps: Vec<f64> = xs
        .iter()
        .map(|x| (at(start + (x * DAY) as i64) - base) as f64)
        .collect();
    (ps.last().copied()? > 0.0).then_some(ps)
}

/// The level now is read from this many last daily samples.
pub const RECENT_SAMPLES: usize = 5;
/// A change of use this many standard errors large is believed.
pub const CHANGE_Z: f64 = 2.0;
/// The same, for use counted in pages: exact counts, no level steps to
/// blur the days, so the largest of many splits needs a higher bar.
pub const CHANGE_Z_PAGES: f64 = 3.0;
/// Days on each side of a change, at least.
pub const CHANGE_MIN_DAYS: usize = 4;

/// Where use changed, if it did: the index of the first daily sample
/// after the change. Daily use is the drop from one daily sample to the
/// next; the split maximising the difference of the means, in standard
/// errors (pooled deviation), must exceed [`CHANGE_Z`].
fn change_point(ys: &[f64], threshold: f64) -> Option<usize> {
    let use_per_day: Vec<f64> = ys.windows(2).map(|w| w[0] - w[1]).collect();
    let n = use_per_day.len();
    if n < 2 * CHANGE_MIN_DAYS {
        return None;
    }
    let mean = use_per_day.iter().sum::<f64>() / n as f64;
    let var = use_per_day.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    if sd <= 0.0 {
        return None;
    }
    let mut best: Option<(f64, usize)> = None;
    let mut before = 0.0;
    for k in 1..n {
        before += use_per_day[k - 1];
        if k < CHANGE_MIN_DAYS || n - k < CHANGE_MIN_DAYS {
            continue;
        }
        let after = mean * n as f64 - before;
        let diff = after / (n - k) as f64 - before / k as f64;
        let z = diff.abs() / (sd * (1.0 / k as f64 + 1.0 / (n - k) as f64).sqrt());
        if best.is_none_or(|(bz, _)| z > bz) {
            best = Some((z, k));
        }
    }
    // Use k's drop is from sample k to k + 1: the new use starts at sample k.
    best.filter(|(z, _)| *z > threshold).map(|(_, k)| k)
}

/// The level, the use per day and their uncertainty, from daily samples.
///
/// The level is the sum of the days' use, so its errors around a line
/// accumulate (a random walk): their scatter says little about the
/// slope. The uncertainty comes from the daily use instead, split into
/// what accumulates (real use varying from day to day, σ) and what does
/// not (the sensor's error of each reading, ε, which makes a day's use
/// look high and the next day's low: a negative lag-1 autocovariance).
/// With `n` days of use the mean is known to √(σ²/n + 2ε²/n²), and the
/// next `T` days will average the use give or take σ/√T.
#[derive(Clone, Copy, Debug)]
struct Estimate {
    /// Percent, at the end of the window.
    level: f64,
    /// Percent per day.
    rate: f64,
    /// Standard deviation of one day's real use, percent.
    sigma: f64,
    /// Standard deviation of a reading's error, percent.
    epsilon: f64,
    /// Days of use seen.
    days: f64,
    /// The mean use's variance is `spread · σ²/n` (least squares through
    /// a random walk: 6/5; a mean of exact daily use: 1).
    spread: f64,
    /// The sensor error's share of the mean use's variance: `white · ε²`
    /// (least squares through white noise: 12/n³; none when the use is
    /// counted in pages).
    white: f64,
    /// Relative uncertainty of the yield (percent per page), when the use
    /// is counted in pages.
    yield_rel: f64,
    /// Standard deviation of `level`, percent.
    level_sd: f64,
    /// Half the step in which the device reports its level, percent.
    half_step: f64,
}

impl Estimate {
    fn of(xs: &[f64], ys: &[f64], fit: Fit, end: f64) -> Estimate {
        let use_per_day: Vec<f64> = xs
            .windows(2)
            .zip(ys.windows(2))
            .filter(|(x, _)| x[1] - x[0] >= 0.999)
            .map(|(_, y)| y[0] - y[1])
            .collect();
        let n = use_per_day.len().max(1) as f64;
        let mean = use_per_day.iter().sum::<f64>() / n;
        let gamma0 = use_per_day.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / n;
        let gamma1 = use_per_day
            .windows(2)
            .map(|w| (w[0] - mean) * (w[1] - mean))
            .sum::<f64>()
            / n;
        // γ0 = σ² + 2ε², γ1 = −ε² (clamped to what is possible).
        let eps2 = (-gamma1).clamp(0.0, gamma0 / 2.0);
        // σ² from the use of whole weeks: a week's use varies by 7σ² + 2ε²,
        // and a weekly rhythm (quiet weekends) cancels out in it, where it
        // would pass for sensor error in γ1. Under two weeks, all of γ0.
        let sigma2 = if use_per_day.len() >= 14 {
            let weeks: Vec<f64> = use_per_day.windows(7).map(|w| w.iter().sum()).collect();
            let wm = weeks.iter().sum::<f64>() / weeks.len() as f64;
            let wvar = weeks.iter().map(|w| (w - wm).powi(2)).sum::<f64>() / weeks.len() as f64;
            ((wvar - 2.0 * eps2) / 7.0).max(gamma0 - 2.0 * eps2)
        } else {
            gamma0
        };
        // The level now: the last days' readings carried to the end along
        // the slope (their median, against the sensor's error). The line's
        // own end would be the window's average level, and the level is a
        // random walk that strays from it.
        let mut recent: Vec<f64> = xs
            .iter()
            .zip(ys)
            .rev()
            .take(RECENT_SAMPLES)
            .map(|(x, y)| y + fit.b * (end - x))
            .collect();
        let level = median(&mut recent).unwrap_or(fit.a + fit.b * end);
        Estimate {
            level: level.clamp(0.0, 100.0),
            rate: -fit.b,
            sigma: sigma2.sqrt(),
            epsilon: eps2.sqrt(),
            days: n,
            spread: 1.2,
            white: 12.0 / n.powi(3),
            yield_rel: 0.0,
            level_sd: eps2.sqrt(),
            half_step: 0.5,
        }
    }

    /// The estimate from pages: the yield `b` (percent per page) is the
    /// least-squares slope of the level against the pages printed over
    /// the window (the sensor's error ε is the scatter around it), and
    /// the use of each day from `from` on is its pages times `b`.
    fn with_pages(xs: &[f64], ys: &[f64], ps: &[f64], from: usize) -> Option<Estimate> {
        let n = ps.len() as f64;
        let mp = ps.iter().sum::<f64>() / n;
        let my = ys.iter().sum::<f64>() / n;
        let spp: f64 = ps.iter().map(|p| (p - mp).powi(2)).sum();
        if spp <= 0.0 || ps.len() < 3 {
            return None;
        }
        let b = ps
            .iter()
            .zip(ys)
            .map(|(p, y)| (p - mp) * (y - my))
            .sum::<f64>()
            / spp;
        if b >= 0.0 {
            return None;
        }
        let a = my - b * mp;
        let eps2 = ys
            .iter()
            .zip(ps)
            .map(|(y, p)| (y - a - b * p).powi(2))
            .sum::<f64>()
            / (n - 2.0).max(1.0);
        let end_pages = *ps.last()?;
        let end_x = *xs.last()?;
        // Against pages the level is a line plus the sensor's error (no
        // random walk: the pages carry the day-to-day use), so the line's
        // end is the level now, known to ε·√(1/n + (P − P̄)²/Spp).
        let level = a + b * end_pages;
        let level_sd = (eps2 * (1.0 / n + (end_pages - mp).powi(2) / spp)).sqrt();
        let use_per_day: Vec<f64> = xs[from..]
            .windows(2)
            .zip(ps[from..].windows(2))
            .filter(|(x, _)| x[1] - x[0] >= 0.999)
            .map(|(_, p)| -b * (p[1] - p[0]))
            .collect();
        let days = end_x - xs.get(from)?;
        if use_per_day.is_empty() || days <= 0.0 {
            return None;
        }
        let rate = -b * (end_pages - ps[from]) / days;
        let un = use_per_day.len() as f64;
        let mean = use_per_day.iter().sum::<f64>() / un;
        let var = use_per_day.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / (un - 1.0).max(1.0);
        let sigma2 = if use_per_day.len() >= 14 {
            let weeks: Vec<f64> = use_per_day.windows(7).map(|w| w.iter().sum()).collect();
            let wm = weeks.iter().sum::<f64>() / weeks.len() as f64;
            let wvar = weeks.iter().map(|w| (w - wm).powi(2)).sum::<f64>() / weeks.len() as f64;
            (wvar / 7.0).max(var)
        } else {
            var
        };
        Some(Estimate {
            level: level.clamp(0.0, 100.0),
            rate,
            sigma: sigma2.sqrt(),
            epsilon: eps2.sqrt(),
            days: un,
            spread: 1.0,
            white: 0.0,
            yield_rel: (eps2 / spp).sqrt() / -b,
            level_sd,
            half_step: 0.5,
        })
    }

    fn with_half_step(self, half_step: f64) -> Estimate {
        Estimate { half_step, ..self }
    }

    /// The 80 % range of the days until empty: the use's relative
    /// uncertainty `s` (estimate and the days to come) turns into
    /// `level / (rate · (1 ± z·s))`, the level itself give or take one
    /// step (printers report whole percents) or ε.
    fn range(&self) -> (f64, f64) {
        let t = self.level / self.rate;
        let n = self.days;
        // Least squares through a random walk: 6/5 of σ²/n; through white
        // noise: 12ε²/n³.
        let estimate = ((self.spread * self.sigma.powi(2) / n + self.white * self.epsilon.powi(2))
            .sqrt()
            / self.rate)
            .hypot(self.yield_rel);
        let future = self.sigma / (self.rate * t.max(1.0).sqrt());
        let s = (estimate.powi(2) + future.powi(2)).sqrt();
        let step = (Z80 * self.level_sd).max(self.half_step).max(1.0);
        // On a log scale: use is a sum of positive, skewed days, and its
        // mean is more often under the truth than over it.
        let spread = (Z80 * s).exp();
        let low = (self.level - step).max(0.0) / (self.rate * spread);
        let high = (self.level + step) * spread / self.rate;
        (low, high)
    }
}

/// History read for a forecast: enough to see the current cartridge's
/// last [`WINDOW_DAYS`] and the replacement before them, most of the time.
/// A cartridge older than this starts, for the forecast, with the history.
pub const HISTORY_DAYS: i64 = 120;

/// A supply of a device: its description, kind and colour, and which of
/// several supplies alike it is (0 for the first).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SupplyKey {
    pub description: String,
    pub kind: String,
    pub color: Option<String>,
    pub ordinal: usize,
}

/// Keys of supplies listed together (one snapshot, or the readings of one
/// time), in order.
fn keys<'a>(items: impl Iterator<Item = (&'a str, &'a str, Option<&'a str>)>) -> Vec<SupplyKey> {
    let mut seen: std::collections::HashMap<(&str, &str, Option<&str>), usize> =
        std::collections::HashMap::new();
    items
        .map(|(d, k, c)| {
            let n = seen.entry((d, k, c)).or_default();
            let key = SupplyKey {
                description: d.to_owned(),
                kind: k.to_owned(),
                color: c.map(str::to_owned),
                ordinal: *n,
            };
            *n += 1;
            key
        })
        .collect()
}

/// The forecast of each current supply of a device: `current` from its
/// latest snapshot, `history` its stored readings in time order (the
/// server stores every supply whenever one changes), `observed_until`
/// when the device was last seen.
pub fn device_forecasts(
    current: &[Supply],
    history: &[SupplyReading],
    observed_until: i64,
    now: i64,
) -> Vec<Forecast> {
    let mut series: std::collections::HashMap<SupplyKey, Vec<LevelPoint>> =
        std::collections::HashMap::new();
    for group in history.chunk_by(|a, b| a.at == b.at) {
        let ks = keys(
            group
                .iter()
                .map(|r| (r.description.as_str(), r.kind.as_str(), r.color.as_deref())),
        );
        for (key, r) in ks.into_iter().zip(group) {
            if let Some(percent) = r.percent {
                series
                    .entry(key)
                    .or_default()
                    .push(LevelPoint { at: r.at, percent });
            }
        }
    }
    keys(
        current
            .iter()
            .map(|s| (s.description.as_str(), s.kind.as_str(), s.color.as_deref())),
    )
    .into_iter()
    .zip(current)
    .map(|(key, supply)| {
        let points = series.remove(&key).unwrap_or_default();
        if supply.state == "empty" || supply.percent.is_some_and(|p| p <= 0.0) {
            return Forecast {
                status: ForecastStatus::Empty,
                reason: None,
                days_left: Some(0.0),
                days_left_low: Some(0.0),
                days_left_high: Some(0.0),
                empty_at: points.last().map(|p| p.at),
                percent_per_day: None,
                level: Some(0.0),
                cartridge_since: None,
                use_changed: false,
            };
        }
        forecast(&points, Some(observed_until), now)
    })
    .collect()
}

/// Why a supply is on the list to order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderReason {
    /// It is empty (the device says so, or reads 0 %).
    Empty,
    /// Expected empty within the days asked (the point estimate).
    Forecast,
    /// The device says it is low, and no date can be predicted.
    ReportedLow,
}

impl OrderReason {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderReason::Empty => "empty",
            OrderReason::Forecast => "forecast",
            OrderReason::ReportedLow => "reported_low",
        }
    }
}

/// Whether a supply is to be ordered for the next `days` days.
pub fn to_order(supply: &Supply, forecast: &Forecast, days: f64) -> Option<OrderReason> {
    match forecast.status {
        ForecastStatus::Empty => Some(OrderReason::Empty),
        ForecastStatus::Predicted => forecast
            .days_left
            .is_some_and(|d| d <= days)
            .then_some(OrderReason::Forecast),
        ForecastStatus::Unknown => (supply.state == "low").then_some(OrderReason::ReportedLow),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(d: f64) -> i64 {
        1_700_000_000 + (d * DAY) as i64
    }

    fn line(days: usize, from: f64, per_day: f64) -> Vec<LevelPoint> {
        (0..days)
            .map(|d| LevelPoint {
                at: day(d as f64),
                percent: (from - per_day * d as f64).round(),
            })
            .collect()
    }

    #[test]
    fn a_steady_drain_is_predicted_from_the_current_cartridge() {
        // 2 %/day from 90 % for 20 days: 50 % left, 25 days.
        let f = forecast(&line(21, 90.0, 2.0), None, day(20.0));
        assert_eq!(f.status, ForecastStatus::Predicted);
        let days = f.days_left.unwrap_or_default();
        assert!((days - 25.0).abs() < 1.0, "{f:?}");
        let (lo, hi) = (
            f.days_left_low.unwrap_or_default(),
            f.days_left_high.unwrap_or_default(),
        );
        assert!(lo < 25.0 && hi > 25.0 && lo > 15.0 && hi < 35.0, "{f:?}");
        // Asked 5 days later, with nothing newer: 5 days fewer.
        let later = forecast(&line(21, 90.0, 2.0), None, day(25.0));
        assert!((later.days_left.unwrap_or_default() - 20.0).abs() < 1.0);
    }

    #[test]
    fn a_replacement_starts_a_new_cartridge() {
        let mut points = line(40, 95.0, 2.3);
        points.retain(|p| p.percent >= 3.0);
        // Replaced on day 40, then 1 %/day.
        points.extend((0..15).map(|d| LevelPoint {
            at: day(40.0 + d as f64),
            percent: 100.0 - d as f64,
        }));
        let f = forecast(&points, None, day(54.0));
        assert_eq!(f.cartridge_since, Some(day(40.0)));
        assert!((f.percent_per_day.unwrap_or_default() - 1.0).abs() < 0.05);
        assert!(
            (f.days_left.unwrap_or_default() - 86.0).abs() < 2.0,
            "{f:?}"
        );
    }

    #[test]
    fn unknown_when_too_few_flat_or_noisy() {
        let f = forecast(&line(3, 80.0, 2.0), None, day(3.0));
        assert_eq!(f.reason, Some(UnknownReason::TooFew));
        let f = forecast(&line(20, 80.0, 0.0), None, day(20.0));
        assert_eq!(f.reason, Some(UnknownReason::NotDraining));
        // One reading, still held 30 days later: no use.
        let one = [LevelPoint {
            at: day(0.0),
            percent: 70.0,
        }];
        let f = forecast(&one, Some(day(30.0)), day(30.0));
        assert_eq!(f.reason, Some(UnknownReason::NotDraining));
        let noisy: Vec<LevelPoint> = (0..30)
            .map(|d| LevelPoint {
                at: day(d as f64),
                percent: 60.0 - 0.1 * d as f64 + if d % 2 == 0 { 4.0 } else { -4.0 },
            })
            .collect();
        let f = forecast(&noisy, None, day(30.0));
        assert_eq!(f.reason, Some(UnknownReason::TooNoisy), "{f:?}");
        assert_eq!(forecast(&[], None, 0).reason, Some(UnknownReason::TooFew));
    }

    #[test]
    fn an_empty_supply_is_empty_and_garbage_is_left_out() {
        let mut points = line(10, 20.0, 2.0);
        points.push(LevelPoint {
            at: day(10.0),
            percent: 0.0,
        });
        points.push(LevelPoint {
            at: day(10.5),
            percent: f64::NAN,
        });
        points.push(LevelPoint {
            at: day(10.6),
            percent: -3.0,
        });
        let f = forecast(&points, None, day(11.0));
        assert_eq!(f.status, ForecastStatus::Empty);
        assert_eq!(f.days_left, Some(0.0));
    }

    #[test]
    fn a_change_of_use_is_followed() {
        // 0.5 %/day for 30 days, then 2 %/day for 12.
        let mut points = line(30, 90.0, 0.5);
        points.extend((0..13).map(|d| LevelPoint {
            at: day(30.0 + d as f64),
            percent: (75.0 - 2.0 * d as f64).round(),
        }));
        let f = forecast(&points, None, day(42.0));
        assert!(f.use_changed, "{f:?}");
        // 51 % left at 2 %/day: about 25 days.
        let days = f.days_left.unwrap_or_default();
        assert!((days - 25.5).abs() < 3.0, "{f:?}");
    }

    fn supply(description: &str, percent: Option<f64>, state: &str) -> Supply {
        Supply {
            description: description.into(),
            kind: "toner".into(),
            color: None,
            level: None,
            max: None,
            percent,
            state: state.into(),
            unit: None,
            part_number: None,
            serial: None,
            oid: None,
        }
    }

    fn reading(description: &str, percent: f64, at: i64) -> SupplyReading {
        SupplyReading {
            description: description.into(),
            kind: "toner".into(),
            color: None,
            percent: Some(percent),
            state: "ok".into(),
            at,
        }
    }

    #[test]
    fn each_current_supply_gets_its_own_history() {
        // Two supplies alike ("Toner") and a third; readings of all three
        // at each time, the first draining 2 %/day, the second 1 %/day.
        let mut history = vec![];
        for d in 0..21 {
            let at = day(d as f64);
            history.push(reading("Toner", 90.0 - 2.0 * d as f64, at));
            history.push(reading("Toner", 90.0 - d as f64, at));
            history.push(reading("Drum", 50.0, at));
        }
        let current = [
            supply("Toner", Some(50.0), "ok"),
            supply("Toner", Some(70.0), "ok"),
            supply("Drum", Some(50.0), "ok"),
            supply("Staples", None, "empty"),
        ];
        let f = device_forecasts(&current, &history, day(20.0), day(20.0));
        assert!(
            (f[0].days_left.unwrap_or_default() - 25.0).abs() < 1.0,
            "{f:?}"
        );
        assert!(
            (f[1].days_left.unwrap_or_default() - 70.0).abs() < 2.0,
            "{f:?}"
        );
        assert_eq!(f[2].reason, Some(UnknownReason::NotDraining));
        assert_eq!(f[3].status, ForecastStatus::Empty);
        assert_eq!(
            to_order(&current[0], &f[0], 30.0),
            Some(OrderReason::Forecast)
        );
        assert_eq!(to_order(&current[0], &f[0], 20.0), None);
        assert_eq!(to_order(&current[3], &f[3], 1.0), Some(OrderReason::Empty));
        let low = supply("Drum", Some(8.0), "low");
        assert_eq!(to_order(&low, &f[2], 1.0), Some(OrderReason::ReportedLow));
        assert_eq!(to_order(&current[2], &f[2], 365.0), None);
    }

    #[test]
    fn pages_measure_the_use_where_the_levels_are_coarse() {
        // 200 pages a day at 0.01 % a page: 2 %/day; the level in 10 %
        // steps (rounded up), the counter reset on day 12.
        let mut levels = vec![];
        let mut pages = vec![];
        for d in 0..=25 {
            let level = 95.0 - 2.0 * d as f64;
            let step = (level / 10.0).ceil() * 10.0;
            if levels.last().is_none_or(|p: &LevelPoint| p.percent != step) {
                levels.push(LevelPoint {
                    at: day(d as f64),
                    percent: step,
                });
            }
            let counted = if d < 12 {
                50_000 + 200 * d
            } else {
                200 * (d - 12)
            };
            pages.push(PagePoint {
                at: day(d as f64),
                value: counted,
            });
        }
        let f = forecast_with_pages(&levels, &pages, Some(day(25.0)), day(25.0));
        assert_eq!(f.status, ForecastStatus::Predicted, "{f:?}");
        let rate = f.percent_per_day.unwrap_or_default();
        assert!((rate - 2.0).abs() < 0.2, "{f:?}");
        // 45 % left: about 22 days, within the range.
        let (lo, hi) = (
            f.days_left_low.unwrap_or_default(),
            f.days_left_high.unwrap_or_default(),
        );
        assert!(lo < 22.5 && 22.5 < hi, "{f:?}");
    }
}

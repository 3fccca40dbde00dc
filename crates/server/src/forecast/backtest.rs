//! Backtest of [`super::forecast`] on simulated supplies whose true day of
//! empty is known: `tests/forecast_backtest.rs` asserts its numbers,
//! `examples/forecast_backtest.rs` prints the table (BENCHMARKS.md).
//! Deterministic: everything comes from the seed.
//!
//! Each case is one device: a cartridge of 3,000–15,000 pages that lasts
//! 30–150 days at its base use, collected every 6 hours, its level
//! reported in whole percents and stored only when it changes (as the
//! server does). A first cartridge drains from 30–100 % and is replaced
//! (at 0–8 %) by a full one; the forecast is asked once the new one is
//! down to 25–80 %, and the simulation goes on, with the same kind of use,
//! until it is really empty.
//! - **steady**: the base number of pages every day, ±10 % (1 σ);
//! - **noisy**: weekends at a fifth of the weekdays, weekdays log-normal
//!   (σ = 0.8), and the sensor off by N(0, 1.5) points at each reading;
//! - **changing**: as steady, but use halves or doubles while the current
//!   cartridge drains (5–25 points before the forecast) and stays so;
//! - **coarse levels**: as steady, the level reported in steps of 10 %.
//!
//! Every case is forecast twice: from the levels alone, and with the page
//! counter (exact pages, the simulation's truth).

use super::{Forecast, ForecastStatus, LevelPoint, PagePoint, forecast, forecast_with_pages};

/// The kinds of use simulated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    Steady,
    Noisy,
    Changing,
    /// As steady, the level reported in steps of 10 % (as many printers do).
    Coarse,
}

impl Scenario {
    pub const ALL: [Scenario; 4] = [
        Scenario::Steady,
        Scenario::Noisy,
        Scenario::Changing,
        Scenario::Coarse,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Steady => "steady",
            Scenario::Noisy => "noisy",
            Scenario::Changing => "changing",
            Scenario::Coarse => "coarse levels",
        }
    }
}

/// SplitMix64: small, deterministic, good enough for a simulation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// One simulated case: the forecast and the truth.
#[derive(Clone, Debug)]
pub struct Case {
    pub scenario: Scenario,
    /// From the levels alone.
    pub forecast: Forecast,
    /// From the levels and the page counter.
    pub with_pages: Forecast,
    /// Days from the forecast until the supply was really empty.
    pub true_days: f64,
    /// The mean use at the time of the forecast, percent per day.
    pub true_rate: f64,
}

impl Case {
    /// The forecast from the levels alone, or with the pages.
    pub fn get(&self, pages: bool) -> &Forecast {
        if pages {
            &self.with_pages
        } else {
            &self.forecast
        }
    }

    /// Whether the truth lies in the range (None: no range given).
    pub fn covered(&self, pages: bool) -> Option<bool> {
        let f = self.get(pages);
        (f.status == ForecastStatus::Predicted).then(|| {
            let low = f.days_left_low.unwrap_or(0.0);
            let high = f.days_left_high.unwrap_or(f64::INFINITY);
            (low..=high).contains(&self.true_days)
        })
    }

    /// |point − truth| / truth, when predicted.
    pub fn relative_error(&self, pages: bool) -> Option<f64> {
        let f = self.get(pages);
        let point = f.days_left?;
        (f.status == ForecastStatus::Predicted && self.true_days > 0.0)
            .then(|| (point - self.true_days).abs() / self.true_days)
    }
}

const T0: i64 = 1_700_000_000;
const STEP: i64 = 6 * 3600;

/// Simulate case `index` of `scenario` from `seed`.
pub fn simulate(seed: u64, scenario: Scenario, index: u64) -> Case {
    let mut rng = Rng(seed
        .wrapping_mul(1_000_003)
        .wrapping_add(index.wrapping_mul(7919))
        .wrapping_add(scenario as u64 * 104_729));
    let capacity = rng.between(3_000.0, 15_000.0);
    let cartridge_days = rng.between(30.0, 150.0);
    let base = capacity / cartridge_days;
    let first_level = rng.between(30.0, 100.0);
    let replace_at = rng.between(0.0, 8.0);
    let ask_at = rng.between(25.0, 80.0);
    let change_at = ask_at + rng.between(5.0, 25.0);
    let factor = if rng.unit() < 0.5 { 0.5 } else { 2.0 };
    let mut level = first_level;
    let mut replaced = false;
    let mut changed = false;
    let mut points: Vec<LevelPoint> = vec![];
    let mut last_reported: Option<f64> = None;
    let mut t = T0;
    let mut asked: Option<(Forecast, Forecast, i64)> = None;
    let mut day_pages = 0.0;
    let mut counter = rng.between(1_000.0, 100_000.0);
    let mut page_points: Vec<PagePoint> = vec![];
    loop {
        if (t - T0) % 86_400 == 0 {
            let weekday = ((t - T0) / 86_400) % 7 < 5;
            let rate = if changed { base * factor } else { base };
            day_pages = match scenario {
                Scenario::Steady | Scenario::Changing | Scenario::Coarse => {
                    rate * (1.0 + 0.1 * rng.normal())
                }
                Scenario::Noisy => {
                    // Weekdays at rate·7/5.4, weekends a fifth: a week averages `rate`.
                    let weekday_mean = rate * 7.0 / 5.4;
                    let sigma: f64 = 0.8;
                    let draw = (sigma * rng.normal() - sigma * sigma / 2.0).exp() * weekday_mean;
                    if weekday { draw } else { draw * 0.2 }
                }
            }
            .max(0.0);
        }
        // A quarter of the day's pages in each 6 hours.
        level -= day_pages / 4.0 * 100.0 / capacity;
        counter += day_pages / 4.0;
        t += STEP;
        if !replaced && level <= replace_at {
            replaced = true;
            level = 100.0;
        }
        if replaced && scenario == Scenario::Changing && !changed && level <= change_at {
            changed = true;
        }
        if let Some((f, p, at)) = asked.take() {
            if level <= 0.0 {
                return Case {
                    scenario,
                    forecast: f,
                    with_pages: p,
                    true_days: (t - at) as f64 / 86_400.0,
                    true_rate: if changed { base * factor } else { base } * 100.0 / capacity,
                };
            }
            asked = Some((f, p, at));
            continue;
        }
        let sensor = match scenario {
            Scenario::Noisy => 1.5 * rng.normal(),
            _ => 0.0,
        };
        let reported = match scenario {
            // The step at or above the level: 10 % until really empty.
            Scenario::Coarse => ((level / 10.0).ceil() * 10.0).clamp(0.0, 100.0),
            _ => (level + sensor).round().clamp(0.0, 100.0),
        };
        if last_reported != Some(reported) {
            points.push(LevelPoint {
                at: t,
                percent: reported,
            });
            last_reported = Some(reported);
        }
        let value = counter.floor() as i64;
        if page_points.last().is_none_or(|p| p.value != value) {
            page_points.push(PagePoint { at: t, value });
        }
        if replaced && level <= ask_at {
            asked = Some((
                forecast(&points, Some(t), t),
                forecast_with_pages(&points, &page_points, Some(t), t),
                t,
            ));
        }
    }
}

/// Results of one scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub scenario: Scenario,
    /// With the page counter.
    pub pages: bool,
    pub cases: usize,
    /// Forecasts given (not unknown).
    pub predicted: usize,
    /// Truth inside the 80 % range, of `predicted`.
    pub covered: usize,
    /// Point within 15 % of the truth, of `predicted`.
    pub within_15: usize,
    /// Median |point − truth| / truth.
    pub median_error: f64,
    /// Median width of the range relative to the truth.
    pub median_width: f64,
}

impl Row {
    pub fn coverage(&self) -> f64 {
        self.covered as f64 / self.predicted.max(1) as f64
    }

    pub fn within_15_share(&self) -> f64 {
        self.within_15 as f64 / self.predicted.max(1) as f64
    }

    pub fn predicted_share(&self) -> f64 {
        self.predicted as f64 / self.cases.max(1) as f64
    }
}

fn median_of(mut v: Vec<f64>) -> f64 {
    super::median(&mut v).unwrap_or(f64::NAN)
}

/// `cases` simulated devices of each scenario: the rows from the levels
/// alone, then those with the page counter.
pub fn run(seed: u64, cases: u64) -> Vec<Row> {
    let all: Vec<(Scenario, Vec<Case>)> = Scenario::ALL
        .iter()
        .map(|&scenario| {
            (
                scenario,
                (0..cases).map(|i| simulate(seed, scenario, i)).collect(),
            )
        })
        .collect();
    [false, true]
        .iter()
        .flat_map(|&pages| {
            all.iter()
                .map(move |(scenario, cases)| summarise(*scenario, cases, pages))
        })
        .collect()
}

/// The row of a scenario's cases.
pub fn summarise(scenario: Scenario, all: &[Case], pages: bool) -> Row {
    let predicted: Vec<&Case> = all
        .iter()
        .filter(|c| c.get(pages).status == ForecastStatus::Predicted)
        .collect();
    Row {
        scenario,
        pages,
        cases: all.len(),
        predicted: predicted.len(),
        covered: predicted
            .iter()
            .filter(|c| c.covered(pages) == Some(true))
            .count(),
        within_15: predicted
            .iter()
            .filter(|c| c.relative_error(pages).is_some_and(|e| e <= 0.15))
            .count(),
        median_error: median_of(
            predicted
                .iter()
                .filter_map(|c| c.relative_error(pages))
                .collect(),
        ),
        median_width: median_of(
            predicted
                .iter()
                .filter_map(|c| {
                    let f = c.get(pages);
                    Some((f.days_left_high? - f.days_left_low?) / c.true_days.max(1e-9))
                })
                .collect(),
        ),
    }
}

/// The table, as Markdown: a line per kind of use, from the levels alone
/// and with the page counter, and the totals of each.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| use | from | cases | predicted | truth in 80 % range | point within 15 % | median error | median range width |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for pages in [false, true] {
        let from = if pages { "levels + pages" } else { "levels" };
        let mut all = (0, 0, 0, 0);
        for r in rows.iter().filter(|r| r.pages == pages) {
            out.push_str(&format!(
                "| {} | {from} | {} | {:.1} % | {:.1} % | {:.1} % | {:.1} % | {:.0} % |\n",
                r.scenario.name(),
                r.cases,
                100.0 * r.predicted_share(),
                100.0 * r.coverage(),
                100.0 * r.within_15_share(),
                100.0 * r.median_error,
                100.0 * r.median_width,
            ));
            all.0 += r.cases;
            all.1 += r.predicted;
            all.2 += r.covered;
            all.3 += r.within_15;
        }
        out.push_str(&format!(
            "| **all** | {from} | {} | {:.1} % | {:.1} % | {:.1} % | | |\n",
            all.0,
            100.0 * all.1 as f64 / all.0.max(1) as f64,
            100.0 * all.2 as f64 / all.1.max(1) as f64,
            100.0 * all.3 as f64 / all.1.max(1) as f64,
        ));
    }
    out
}

//! Supply forecast backtest: prints the table recorded in BENCHMARKS.md.
//!
//! `cargo run -p printwatch-server --example forecast_backtest [SEED] [CASES]`

use printwatch_server::forecast::backtest;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed = args.next().and_then(|s| s.parse().ok()).unwrap_or(13);
    let cases = args.next().and_then(|s| s.parse().ok()).unwrap_or(1_000);
    let started = std::time::Instant::now();
    let rows = backtest::run(seed, cases);
    print!("{}", backtest::table(&rows));
    println!(
        "\nseed {seed}, {cases} cases per kind of use, {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

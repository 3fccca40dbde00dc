//! Numbers and counts as people read them.

use std::time::Duration;

/// "1 printer", "2 printers", "16,777,214 addresses".
pub fn plural(n: usize, singular: &str, plural: &str) -> String {
    if n == 1 {
        format!("1 {singular}")
    } else {
        format!("{} {plural}", thousands(n as u64))
    }
}

/// 16777214 → "16,777,214".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// "45 s", "12 min", "2 h 20 min", "3 days".
pub fn duration_text(d: Duration) -> String {
    let s = d.as_secs_f64().round() as u64;
    match s {
        0 => "less than 1 s".into(),
        1..=119 => format!("{s} s"),
        120..=3599 => format!("{} min", (s + 30) / 60),
        3600..=172_799 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(plural(0, "address", "addresses"), "0 addresses");
        assert_eq!(plural(1, "address", "addresses"), "1 address");
        assert_eq!(plural(2, "retry", "retries"), "2 retries");
        assert_eq!(
            plural(16_777_214, "address", "addresses"),
            "16,777,214 addresses"
        );
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(65_534), "65,534");
        assert_eq!(duration_text(Duration::from_millis(230)), "less than 1 s");
        assert_eq!(duration_text(Duration::from_secs(45)), "45 s");
        assert_eq!(duration_text(Duration::from_secs(600)), "10 min");
        assert_eq!(duration_text(Duration::from_secs(8389)), "2 h 19 min");
        assert_eq!(duration_text(Duration::from_secs(400_000)), "4 days");
    }
}

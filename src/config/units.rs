//! Durations and sizes as written in `kiln.yaml` (`90s`, `1h30m`, `64m`),
//! and the short duration format kiln prints back (`1m12s`).
//!
//! This file owns the grammar of both units; callers get a plain
//! `Result<_, String>` whose message is ready to put after `FILE:LINE:COL:`.

use std::time::Duration;

const DURATION_HINT: &str = "use e.g. 90s, 2m, 1h30m";

/// Parses a duration: `500ms`, `90s`, `2m`, `1h`, `1h30m`, or a plain integer
/// meaning seconds. Units are case-insensitive; the result must be > 0.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("invalid duration '{s}' ({DURATION_HINT})");
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Err(bad());
    }
    // A bare integer is seconds, like Docker's `--stop-timeout`.
    if t.bytes().all(|b| b.is_ascii_digit()) {
        let secs: u64 = t.parse().map_err(|_| bad())?;
        if secs == 0 {
            return Err(format!("duration '{s}' must be greater than 0"));
        }
        return Ok(Duration::from_secs(secs));
    }
    let mut total_ms: u64 = 0;
    let mut rest = t.as_str();
    while !rest.is_empty() {
        let (digits, after) = rest.split_at(
            rest.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len()),
        );
        if digits.is_empty() {
            return Err(bad());
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        let (unit, after) = after.split_at(
            after
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(after.len()),
        );
        let per_ms: u64 = match unit {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            _ => return Err(bad()),
        };
        let part = n.checked_mul(per_ms).ok_or_else(bad)?;
        total_ms = total_ms.checked_add(part).ok_or_else(bad)?;
        rest = after;
    }
    if total_ms == 0 {
        return Err(format!("duration '{s}' must be greater than 0"));
    }
    Ok(Duration::from_millis(total_ms))
}

/// Parses a size in bytes: a plain integer, or a number (decimals allowed)
/// followed by `b`, `k`, `kb`, `m`, `mb`, `g`, `gb` (case-insensitive,
/// binary multiples: `1k` = 1024). Must be > 0.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size '{s}' (use e.g. 64m, 1g, 512k or a number of bytes)");
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return Err(bad()),
    };
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err(bad());
    }
    let bytes = if let Some((int, frac)) = num.split_once('.') {
        // Exact arithmetic on the fraction so `1.5g` is exactly 1.5 GiB and
        // nothing goes through a lossy f64.
        let int: u64 = int.parse().map_err(|_| bad())?;
        let frac = frac.get(..frac.len().min(9)).unwrap_or(frac);
        let frac_n: u64 = frac.parse().map_err(|_| bad())?;
        let scale = 10u64.pow(frac.len() as u32);
        let whole = int.checked_mul(mult).ok_or_else(bad)?;
        let part = (u128::from(frac_n) * u128::from(mult) / u128::from(scale)) as u64;
        whole.checked_add(part).ok_or_else(bad)?
    } else {
        let n: u64 = num.parse().map_err(|_| bad())?;
        n.checked_mul(mult).ok_or_else(bad)?
    };
    if bytes == 0 {
        return Err(format!("size '{s}' must be greater than 0"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert_eq!(parse_duration(" 2M "), Ok(Duration::from_secs(120)));
        assert_eq!(
            parse_duration("1m30s500ms"),
            Ok(Duration::from_millis(90_500))
        );
    }

    #[test]
    fn duration_errors() {
        assert_eq!(
            parse_duration("5x").unwrap_err(),
            "invalid duration '5x' (use e.g. 90s, 2m, 1h30m)"
        );
        for bad in [
            "",
            "s",
            "m5",
            "1.5h",
            "-1s",
            "1 h",
            "99999999999999999999",
            "h1",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_duration("0").unwrap_err().contains("greater than 0"));
        assert!(parse_duration("0s").unwrap_err().contains("greater than 0"));
        assert!(parse_duration("18446744073709551615h").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("64MB"), Ok(64 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("1Kb"), Ok(1024));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("100b"), Ok(100));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("0.5k"), Ok(512));
    }

    #[test]
    fn size_errors() {
        for bad in [
            "",
            "m",
            "1t",
            "1.2.3m",
            ".5m",
            "5.m",
            "-1m",
            "1 0m",
            "99999999999g",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should fail");
        }
        assert!(parse_size("0").unwrap_err().contains("greater than 0"));
        assert!(parse_size("12q")
            .unwrap_err()
            .starts_with("invalid size '12q'"));
    }
}

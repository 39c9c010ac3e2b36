//! How numbers and ids read to people: durations, sizes, ids and digests.
//! A leaf below the model, the views and the engine, which all say these
//! things the same way. Pure functions; nothing of kiln's is imported.

use std::time::Duration;

/// How many characters of an id's hex people read.
const SHORT_ID_CHARS: usize = 12;

/// Formats a duration short, for status lines: `950ms`, `12s`, `1m12s`,
/// `2h03m`. Below one second shows milliseconds; below a minute whole
/// seconds; below an hour minutes and seconds; otherwise hours and minutes.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3_600 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3_600, (secs % 3_600) / 60)
    }
}

/// `format_duration` of a count of milliseconds (the events' unit).
pub fn format_ms(ms: u64) -> String {
    format_duration(Duration::from_millis(ms))
}

/// A duration in whole milliseconds (the events' unit), saturating.
pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `1.98 MB`-style sizes (powers of 1000, as the docker CLI shows them).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// An image id (or any digest) as people read it: the first 12 characters
/// of its hex, without the `sha256:` (or other algorithm) prefix. Counts
/// characters, not bytes: an id read back from an edited history may hold
/// anything.
pub fn short_id(id: &str) -> &str {
    let hex = id.split_once(':').map_or(id, |(_, hex)| hex);
    match hex.char_indices().nth(SHORT_ID_CHARS) {
        Some((end, _)) => hex.get(..end).unwrap_or(hex),
        None => hex,
    }
}

/// A digest as people read it: its algorithm, its `short_id`, and `…` when
/// that cut something off: `sha256:0123456789ab…`.
pub fn short_digest(digest: &str) -> String {
    let cut = short_id(digest);
    let hex = digest.split_once(':').map_or(digest, |(_, hex)| hex);
    let ellipsis = if cut.len() < hex.len() { "…" } else { "" };
    match digest.split_once(':') {
        Some((algo, _)) => format!("{algo}:{cut}{ellipsis}"),
        None => format!("{cut}{ellipsis}"),
    }
}

/// `s` when `n` is not one: `1 step`, `2 steps`.
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ids() {
        assert_eq!(human_bytes(1_982_256), "1.98 MB");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(short_id("sha256:abcdef0123456789"), "abcdef012345");
        assert_eq!(short_id("abc"), "abc");
        // Not hex at all (a hand-edited history): cut by characters.
        assert_eq!(short_id("sha256:ééééééééééééééé"), "éééééééééééé");
        assert_eq!(short_id("日本語"), "日本語");
        assert_eq!(
            short_digest(&format!("sha256:{}", "ab".repeat(32))),
            "sha256:abababababab…"
        );
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_digest("0123456789abcdef"), "0123456789ab…");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_millis(950)), "950ms");
        assert_eq!(format_duration(Duration::from_millis(0)), "0ms");
        assert_eq!(format_duration(Duration::from_secs(12)), "12s");
        assert_eq!(format_duration(Duration::from_secs(72)), "1m12s");
        assert_eq!(format_duration(Duration::from_secs(65)), "1m05s");
        assert_eq!(
            format_duration(Duration::from_secs(2 * 3600 + 180)),
            "2h03m"
        );
        assert_eq!(format_duration(Duration::from_secs(30 * 3600)), "30h00m");
        assert_eq!(format_ms(12_400), "12s");
        assert_eq!(millis(Duration::from_secs(2)), 2_000);
    }
}

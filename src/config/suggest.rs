//! "Did you mean ...?" suggestions for misspelt field and image names.

/// Edit distance over chars where an adjacent transposition counts as one
/// edit (optimal string alignment), so `form`/`from` are 1 apart.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for (i, row) in d.chunks_mut(w).enumerate() {
        row[0] = i;
    }
    for (j, cell) in d.iter_mut().take(w).enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
        }
    }
    d[a.len() * w + b.len()]
}

/// The closest candidate if it is close enough to be a plausible typo:
/// at most 2 edits, and at most half the longer word (so `a` is not
/// "corrected" to `b`, but `bb` is to `b`). Ties go to the earlier candidate.
pub fn closest<'a, I>(input: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    // Very long inputs cannot be typos of short names; skip the O(n*m) work.
    if input.chars().count() > 64 {
        return None;
    }
    let lower = input.to_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = edit_distance(&lower, &c.to_lowercase());
        let longest = lower.chars().count().max(c.chars().count());
        if d <= 2 && d * 2 <= longest && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `" — did you mean 'x'?"` or an empty string.
pub fn did_you_mean<'a, I>(input: &str, candidates: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    match closest(input, candidates) {
        Some(c) => format!(" — did you mean '{c}'?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("contxt", "context"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("form", "from"), 1);
        assert_eq!(edit_distance("wbe", "web"), 1);
    }

    #[test]
    fn suggestions() {
        let fields = ["name", "context", "dockerfile", "tags"];
        assert_eq!(closest("contxt", fields), Some("context"));
        assert_eq!(closest("tag", fields), Some("tags"));
        assert_eq!(closest("Name", fields), Some("name"));
        assert_eq!(closest("zzzzzz", fields), None);
        assert_eq!(closest("a", ["b"]), None);
        assert_eq!(closest("ab", ["cd"]), None);
        assert_eq!(closest("bb", ["b"]), Some("b"));
        assert_eq!(
            did_you_mean("bse", ["base", "web"]),
            " — did you mean 'base'?"
        );
    }
}

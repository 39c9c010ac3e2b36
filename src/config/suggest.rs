//! "Did you mean ...?" suggestions for misspelt field and image names.

/// Levenshtein edit distance over chars.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest candidate if it is close enough to be a plausible typo:
/// at most 2 edits, and fewer edits than half the longer word (so `a` is
/// not "corrected" to `b`). Ties go to the earlier candidate.
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
        if d <= 2 && d * 2 < longest && best.is_none_or(|(bd, _)| d < bd) {
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
    }

    #[test]
    fn suggestions() {
        let fields = ["name", "context", "dockerfile", "tags"];
        assert_eq!(closest("contxt", fields), Some("context"));
        assert_eq!(closest("tag", fields), Some("tags"));
        assert_eq!(closest("Name", fields), Some("name"));
        assert_eq!(closest("zzzzzz", fields), None);
        assert_eq!(closest("a", ["b"]), None);
        assert_eq!(did_you_mean("bse", ["base", "web"]), " — did you mean 'base'?");
    }
}

//! Go's glob syntax, read once for the two matchers that use it.
//!
//! Docker matches paths against patterns written in the syntax of Go's
//! `path/filepath.Match` (Unix): `*` any run of characters but `/`, `?` one
//! character but `/`, `[...]` a class (`^` negates, `a-z` ranges), `\`
//! escapes the next character. Two matchers are built on it:
//!
//! * `.dockerignore` patterns ([`super::dockerignore`]): moby's
//!   `patternmatcher` adds `**` and compiles each pattern to a regular
//!   expression, refusing one that `filepath.Match` calls malformed or
//!   that has a reversed range (`[z-a]`, which Go's regexp refuses). The
//!   tokens it compiles to are matched by [`run`], a regular-language
//!   simulation, as the regexp matches.
//! * the include patterns of a BuildKit session's walk
//!   (`session/walk.rs`): tonistiigi/fsutil calls `filepath.Match` itself,
//!   which [`filepath_match`] ports with Go's own algorithm (each chunk
//!   after a `*` is taken at its first fit, which is not always what a
//!   regular expression would find: `*a[^x]*c` does not match `aa/c`).
//!
//! Both read the pattern with [`lex`], so they agree on what a pattern
//! says and on which patterns are malformed. Matching is on characters:
//! Go's `*` skips bytes, so `*??` matches `☺` in Go (each `?` takes one
//! byte of it) and not here, a case no pattern writes on purpose.

/// Why a pattern is refused: `filepath.ErrBadPattern`'s words.
pub(crate) const BAD_PATTERN: &str = "syntax error in pattern";

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tok {
    Lit(char),
    /// `?`: one character other than `/`.
    One,
    /// `*`: any run of characters other than `/`.
    Star,
    /// `**` followed by more pattern (`.dockerignore` only): regexp
    /// `(.*/)?`, i.e. nothing, or anything ending in `/`.
    AnyDirs,
    /// `**` at the end of a pattern that is already a regexp
    /// (`.dockerignore` only): `.*`.
    AnyRest,
    /// `[...]`: one character in (or, negated, not in) the ranges. A
    /// reversed range matches nothing.
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Tok {
    /// Whether a token that takes exactly one character takes `c` (false
    /// for the repeating ones).
    fn takes(&self, c: char) -> bool {
        match self {
            Tok::Lit(l) => c == *l,
            Tok::One => c != '/',
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Tok::Star | Tok::AnyDirs | Tok::AnyRest => false,
        }
    }

    /// Whether the token may match nothing (and repeat).
    fn repeats(&self) -> bool {
        matches!(self, Tok::Star | Tok::AnyDirs | Tok::AnyRest)
    }
}

/// One element of a pattern as written: a [`Tok`] (`Lit`, `One`, `Star`
/// or `Class`), and whether it was a `\`-escaped character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lexeme {
    pub tok: Tok,
    pub escaped: bool,
}

/// Reads `pattern` as `filepath.Match` does; [`BAD_PATTERN`] for a
/// pattern it calls malformed: a trailing `\`, a class that is not closed
/// or that starts a range or an element with an unescaped `-` or `]`
/// (`[]a]`, `[-]`, `[x-]`, `[a-b-c]`).
pub(crate) fn lex(pattern: &str) -> Result<Vec<Lexeme>, &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        let (tok, escaped) = match ch {
            '*' => (Tok::Star, false),
            '?' => (Tok::One, false),
            '\\' => {
                let next = chars.get(i).copied().ok_or(BAD_PATTERN)?;
                i += 1;
                (Tok::Lit(next), true)
            }
            '[' => {
                let (tok, next) = class(&chars, i).ok_or(BAD_PATTERN)?;
                i = next;
                (tok, false)
            }
            other => (Tok::Lit(other), false),
        };
        out.push(Lexeme { tok, escaped });
    }
    Ok(out)
}

/// The class starting just after `[` at `start`, and the index after its
/// `]`.
fn class(chars: &[char], start: usize) -> Option<(Tok, usize)> {
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !ranges.is_empty() {
            return Some((Tok::Class { negated, ranges }, i + 1));
        }
        let lo = class_char(chars, &mut i)?;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            i += 1;
            hi = class_char(chars, &mut i)?;
        }
        ranges.push((lo, hi));
    }
}

/// `filepath.Match`'s `getEsc`: one possibly escaped class character; an
/// unescaped `-` or `]` here, or running out of pattern, is malformed.
fn class_char(chars: &[char], i: &mut usize) -> Option<char> {
    let mut c = *chars.get(*i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        *i += 1;
        c = *chars.get(*i)?;
    }
    *i += 1;
    Some(c)
}

/// Go's `filepath.Match(pattern, name)` on Unix: whether `name` matches as
/// a whole; [`BAD_PATTERN`] when the pattern is malformed (Go then says
/// false, whatever the name).
pub(crate) fn filepath_match(pattern: &str, name: &str) -> Result<bool, &'static str> {
    let toks: Vec<Tok> = lex(pattern)?.into_iter().map(|l| l.tok).collect();
    let mut pattern = toks.as_slice();
    let mut name = name;
    'pattern: while !pattern.is_empty() {
        let stars = pattern.iter().take_while(|t| **t == Tok::Star).count();
        let star = stars > 0;
        let rest = &pattern[stars..];
        let len = rest.iter().take_while(|t| **t != Tok::Star).count();
        let chunk = &rest[..len];
        pattern = &rest[len..];
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it has a `/`.
            return Ok(!name.contains('/'));
        }
        // The chunk here; the last one must use up the name.
        if let Some(t) = match_chunk(chunk, name) {
            if t.is_empty() || !pattern.is_empty() {
                name = t;
                continue;
            }
        }
        if star {
            // Let the star eat characters (never a `/`) and retry.
            for (i, c) in name.char_indices() {
                if c == '/' {
                    break;
                }
                if let Some(t) = match_chunk(chunk, name.split_at(i + c.len_utf8()).1) {
                    if pattern.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Matches a star-free chunk at the start of `s`: the rest of `s`, or None.
fn match_chunk<'s>(chunk: &[Tok], s: &'s str) -> Option<&'s str> {
    let mut rest = s.chars();
    for tok in chunk {
        if !tok.takes(rest.next()?) {
            return None;
        }
    }
    Some(rest.as_str())
}

/// Simulates the tokens as the regular expression they stand for, over
/// `text`; element `k` of the result says whether the first `k` tokens can
/// consume exactly `text`.
pub(crate) fn run(toks: &[Tok], text: &str) -> Vec<bool> {
    let mut states = vec![false; toks.len() + 1];
    states[0] = true;
    close(toks, &mut states);
    let mut next = vec![false; toks.len() + 1];
    for c in text.chars() {
        next.iter_mut().for_each(|s| *s = false);
        for (k, tok) in toks.iter().enumerate() {
            if !states[k] {
                continue;
            }
            match tok {
                Tok::Star => {
                    if c != '/' {
                        next[k] = true;
                    }
                }
                // Go's `.` does not match a newline; kept for fidelity.
                Tok::AnyDirs => {
                    if c != '\n' {
                        next[k] = true;
                        if c == '/' {
                            next[k + 1] = true;
                        }
                    }
                }
                Tok::AnyRest => {
                    if c != '\n' {
                        next[k] = true;
                    }
                }
                one => {
                    if one.takes(c) {
                        next[k + 1] = true;
                    }
                }
            }
        }
        close(toks, &mut next);
        std::mem::swap(&mut states, &mut next);
        if !states.iter().any(|&s| s) {
            // Dead: no later character can revive the match.
            break;
        }
    }
    states
}

/// Epsilon closure: the repeating tokens may match nothing. Epsilon moves
/// only go one token forward, so a single forward pass suffices.
fn close(toks: &[Tok], states: &mut [bool]) {
    for (k, tok) in toks.iter().enumerate() {
        if states[k] && tok.repeats() {
            states[k + 1] = true;
        }
    }
}

/// fsutil's `containsWildcards`: whether `name` has an unescaped `*`, `?`
/// or `[`.
pub(crate) fn has_wildcards(name: &str) -> bool {
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::dockerignore::DockerIgnore;

    /// Go's path/filepath match_test.go (the Unix cases; moby's
    /// patternmatcher_test.go runs the same rows), with what each matcher
    /// answers: `go` is `filepath.Match` (None: `ErrBadPattern`), `docker`
    /// whether a `.dockerignore` of that one pattern leaves the path out
    /// (None: Docker refuses the pattern). The rows where they differ are
    /// the reasons there are two matchers: a `.dockerignore` pattern that
    /// matches a parent directory leaves everything below it out (`a*`,
    /// `ab/c`); Go's regexp refuses a reversed range that `filepath.Match`
    /// takes for an empty one; and `filepath.Match` takes the first fit of
    /// each chunk where a regexp looks further.
    const MATCH_TESTS: &[(&str, &str, Option<bool>, Option<bool>)] = &[
        ("abc", "abc", Some(true), Some(true)),
        ("*", "abc", Some(true), Some(true)),
        ("*c", "abc", Some(true), Some(true)),
        ("a*", "a", Some(true), Some(true)),
        ("a*", "abc", Some(true), Some(true)),
        ("a*", "ab/c", Some(false), Some(true)),
        ("a*/b", "abc/b", Some(true), Some(true)),
        ("a*/b", "a/c/b", Some(false), Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true), Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true), Some(true)),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false), Some(false)),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false), Some(false)),
        ("a*b?c*x", "abxbbxdbxebxczzx", Some(true), Some(true)),
        ("a*b?c*x", "abxbbxdbxebxczzy", Some(false), Some(false)),
        ("ab[c]", "abc", Some(true), Some(true)),
        ("ab[b-d]", "abc", Some(true), Some(true)),
        ("ab[e-g]", "abc", Some(false), Some(false)),
        ("ab[^c]", "abc", Some(false), Some(false)),
        ("ab[^b-d]", "abc", Some(false), Some(false)),
        ("ab[^e-g]", "abc", Some(true), Some(true)),
        ("a\\*b", "a*b", Some(true), Some(true)),
        ("a\\*b", "ab", Some(false), Some(false)),
        ("a?b", "a☺b", Some(true), Some(true)),
        ("a[^a]b", "a☺b", Some(true), Some(true)),
        ("a???b", "a☺b", Some(false), Some(false)),
        ("a[^a][^a][^a]b", "a☺b", Some(false), Some(false)),
        ("[a-ζ]*", "α", Some(true), Some(true)),
        ("*[a-ζ]", "A", Some(false), Some(false)),
        ("a?b", "a/b", Some(false), Some(false)),
        ("a*b", "a/b", Some(false), Some(false)),
        ("[\\]a]", "]", Some(true), Some(true)),
        ("[\\-]", "-", Some(true), Some(true)),
        ("[x\\-]", "x", Some(true), Some(true)),
        ("[x\\-]", "-", Some(true), Some(true)),
        ("[x\\-]", "z", Some(false), Some(false)),
        ("[\\-x]", "x", Some(true), Some(true)),
        ("[\\-x]", "-", Some(true), Some(true)),
        ("[\\-x]", "a", Some(false), Some(false)),
        ("[]a]", "]", None, None),
        ("[-]", "-", None, None),
        ("[x-]", "x", None, None),
        ("[x-]", "-", None, None),
        ("[x-]", "z", None, None),
        ("[-x]", "x", None, None),
        ("[-x]", "-", None, None),
        ("[-x]", "a", None, None),
        ("\\", "a", None, None),
        ("[a-b-c]", "a", None, None),
        ("[", "a", None, None),
        ("[^", "a", None, None),
        ("[^bc", "a", None, None),
        ("a[", "a", None, None),
        ("a[", "ab", None, None),
        ("a[", "x", None, None),
        ("a/b[", "x", None, None),
        ("*x", "xxx", Some(true), Some(true)),
        // Not Go's rows: where the two matchers part.
        ("[z-a]", "m", Some(false), None),
        ("[^z-a]", "m", Some(true), None),
        ("*a[^x]*c", "aa/c", Some(false), Some(true)),
    ];

    #[test]
    fn both_matchers_follow_the_table() {
        for &(pattern, name, go, docker) in MATCH_TESTS {
            let row = format!("({pattern:?}, {name:?})");
            assert_eq!(
                filepath_match(pattern, name).ok(),
                go,
                "filepath.Match{row}"
            );
            match DockerIgnore::try_parse(pattern) {
                Ok(ignore) => assert_eq!(Some(ignore.is_excluded(name)), docker, "{row}"),
                Err(e) => {
                    assert_eq!(docker, None, "{row}: {e}");
                    assert_eq!(e.reason, BAD_PATTERN, "{row}");
                    // The lenient reader leaves it out and says so.
                    let lenient = DockerIgnore::parse(pattern);
                    assert!(lenient.is_empty(), "{row}");
                    assert_eq!(lenient.invalid_patterns().len(), 1, "{row}");
                }
            }
        }
    }

    #[test]
    fn wildcards_are_unescaped_stars_questions_and_classes() {
        for (name, want) in [
            ("Dockerfile", false),
            ("*.rs", true),
            ("a?", true),
            ("[ab]", true),
            ("a\\*", false),
            ("a\\\\*", true),
        ] {
            assert_eq!(has_wildcards(name), want, "{name:?}");
        }
    }
}

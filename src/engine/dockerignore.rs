//! `.dockerignore` parsing and matching, with Docker's semantics.
//!
//! This module owns the answer to "would `docker build` leave this path out
//! of the build context?". It reproduces two pieces of Docker:
//!
//! * the ignore-file reader (BuildKit's `dockerignore` / moby's
//!   `patternmatcher/ignorefile`): `#` comments, whitespace trimming,
//!   `!` exceptions, `path.Clean` normalisation, leading `/` stripped;
//! * moby's `patternmatcher`: how a cleaned pattern matches a slash-separated
//!   path relative to the context root, including the `**` special cases,
//!   "a pattern matching a parent directory excludes everything below it",
//!   and "the last matching pattern wins".
//!
//! Patterns are anchored at the context root (`foo` matches `foo`, never
//! `a/foo`), unlike `.gitignore`.
//!
//! It also answers the walker's pruning question,
//! [`DockerIgnore::dir_may_have_included_children`], so an excluded directory
//! such as `node_modules` is never read unless a `!` exception could bring
//! something inside it back.
//!
//! Matching is hand-written (no regex engine): moby compiles each pattern to
//! a Go regexp; here the pattern is read as `filepath.Match` reads it
//! (`glob.rs`, shared with the BuildKit session's include patterns) and
//! compiled, as moby compiles it, to tokens that mirror exactly what its
//! regexp compiler emits. Known, deliberate deviations from the Go
//! implementation, all in patterns nobody writes on purpose:
//! * an escape such as `\n` or `\d` is the literal character (`n`, `d`), as
//!   documented for `filepath.Match`, where Go's regexp would read a regexp
//!   escape;
//! * `*` and `?` inside a `[...]` class are literal characters;
//! * a bare `^` outside a class is a literal character.

use std::fmt;

use super::glob::{self, Tok};

/// Bytes (a name, an ignore file) as the text Docker's Go matcher sees:
/// UTF-8 as it is, and each byte that is not part of valid UTF-8 as one
/// U+FFFD, as Go decodes it (`utf8.DecodeRune`: one `RuneError` per byte;
/// Rust's lossy conversion makes one of a whole broken sequence, so `?`
/// and `[...]` would count differently).
pub(crate) fn go_text(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for _ in chunk.invalid() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A pattern Docker would refuse (the build fails with this error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// The pattern as it appeared after the reader's normalisation.
    pub pattern: String,
    /// Why it is invalid.
    pub reason: &'static str,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.pattern, self.reason)
    }
}

impl std::error::Error for PatternError {}

/// Per-pattern "did this pattern match the parent directory" flags, carried
/// from a directory to its children by a walker.
///
/// This is moby's `MatchInfo`. Docker's own walkers (the CLI's tar builder
/// and BuildKit's fsutil) decide exclusion incrementally with it, and the
/// incremental result can differ from re-checking every ancestor from
/// scratch when exceptions are involved, so kiln uses the same mechanism to
/// get the same answers. `MatchInfo::default()` means "parent unknown": every
/// ancestor is then checked directly, which is also the right value for
/// entries at the top of the context.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchInfo {
    parent_matched: Vec<bool>,
}

/// A parsed `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    invalid: Vec<PatternError>,
}

impl DockerIgnore {
    /// Parses `.dockerignore` text leniently: patterns Docker would reject
    /// are left out and reported by [`DockerIgnore::invalid_patterns`].
    pub fn parse(text: &str) -> DockerIgnore {
        let mut out = DockerIgnore::default();
        for line in read_lines(text) {
            match Pattern::new(&line) {
                Ok(p) => out.patterns.push(p),
                Err(e) => out.invalid.push(e),
            }
        }
        out
    }

    /// Parses `.dockerignore` text, failing on the first pattern Docker
    /// would reject (as `docker build` does).
    pub fn try_parse(text: &str) -> Result<DockerIgnore, PatternError> {
        let parsed = DockerIgnore::parse(text);
        match parsed.invalid.first() {
            Some(e) => Err(e.clone()),
            None => Ok(parsed),
        }
    }

    /// A matcher for patterns that were already read from an ignore file
    /// (BuildKit sends them as a list): each is trimmed and cleaned, empty
    /// ones are skipped (moby's `NewPatternMatcher`). Fails on the first
    /// pattern Docker would refuse.
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<DockerIgnore, PatternError> {
        let mut out = DockerIgnore::default();
        for raw in patterns {
            let raw = raw.as_ref().trim();
            if !raw.is_empty() {
                out.patterns.push(Pattern::new(raw)?);
            }
        }
        Ok(out)
    }

    /// Patterns that [`DockerIgnore::parse`] dropped because Docker rejects them.
    pub fn invalid_patterns(&self) -> &[PatternError] {
        &self.invalid
    }

    /// True when there are no (valid) patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when at least one `!` exception pattern exists.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// The normalised patterns, exceptions prefixed with `!` (for display
    /// and debugging).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exclusion {
                    format!("!{}", p.cleaned)
                } else {
                    p.cleaned.clone()
                }
            })
            .collect()
    }

    /// Whether Docker leaves `rel_path` (slash-separated, relative to the
    /// context root) out of the build context.
    ///
    /// Equivalent to walking down from the root with
    /// [`DockerIgnore::matches_with_parent`], which is what Docker does.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let cleaned = clean(rel_path);
        let cleaned = cleaned.trim_start_matches('/');
        if cleaned.is_empty() || cleaned == "." {
            // The root itself is never excluded (moby: "Don't let them
            // exclude everything, kind of silly").
            return false;
        }
        // Starting from "every pattern known not to match the parent" is what
        // the walkers do for top-level entries.
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        let mut excluded = false;
        for (i, _) in cleaned.match_indices('/').chain([(cleaned.len(), "")]) {
            let (m, child) = self.matches_with_parent(cleaned.split_at(i).0, &info);
            excluded = m;
            info = child;
        }
        excluded
    }

    /// One step of an incremental walk (moby's `MatchesUsingParentResults`):
    /// whether `rel_path` is excluded given its parent directory's
    /// [`MatchInfo`], plus the `MatchInfo` to hand to its children.
    pub fn matches_with_parent(&self, rel_path: &str, parent: &MatchInfo) -> (bool, MatchInfo) {
        let known_parent =
            parent.parent_matched.len() == self.patterns.len() && !parent.parent_matched.is_empty();
        let mut matched = false;
        let mut info = MatchInfo {
            parent_matched: vec![false; self.patterns.len()],
        };
        for (i, pattern) in self.patterns.iter().enumerate() {
            let mut m = known_parent && parent.parent_matched[i];
            if !m {
                // An include pattern cannot change an already-excluded path,
                // and an exception cannot change a path nothing excluded:
                // skip the work (and, as in moby, do not record a match).
                if pattern.exclusion != matched {
                    continue;
                }
                m = pattern.matches(rel_path);
                if !m && !known_parent {
                    m = ancestors(rel_path).any(|a| pattern.matches(a));
                }
            }
            info.parent_matched[i] = m;
            if m {
                matched = !pattern.exclusion;
            }
        }
        (matched, info)
    }

    /// Whether a walker must descend into the excluded directory `rel_dir`
    /// because some `!` exception could re-include something below it.
    ///
    /// Conservative: `true` means "maybe", `false` means "nothing below this
    /// directory can end up in the context", so the directory need not be
    /// read at all. Docker's CLI only recognises literal prefixes here
    /// (`!a/keep.txt` under `a`) and BuildKit walks everything as soon as an
    /// exception has a wildcard; this check also prunes in the wildcard case
    /// when the exception provably cannot reach inside `rel_dir`.
    pub fn dir_may_have_included_children(&self, rel_dir: &str) -> bool {
        let cleaned = clean(rel_dir);
        let dir = cleaned.trim_start_matches('/');
        if dir.is_empty() || dir == "." {
            return self.has_exceptions();
        }
        let dir_slash = format!("{dir}/");
        self.patterns.iter().filter(|p| p.exclusion).any(|p| {
            // An exception matching the directory or one of its ancestors
            // applies to everything below through parent matching.
            p.matches(dir)
                || ancestors(dir).any(|a| p.matches(a))
                || p.matcher.could_match_with_prefix(&dir_slash)
        })
    }
}

/// The buildkit/moby ignore-file reader: one normalised pattern per line,
/// exceptions keeping their leading `!`.
fn read_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.split('\n') {
        // Only a `#` in the very first column starts a comment: the check
        // happens before trimming, so "  # x" is a pattern, as in Docker.
        if line.starts_with('#') {
            continue;
        }
        let pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let (invert, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, pattern),
        };
        let mut normalised = String::new();
        if !pattern.is_empty() {
            normalised = clean(pattern);
            if normalised.len() > 1 && normalised.starts_with('/') {
                normalised.remove(0);
            }
        }
        if invert {
            normalised.insert(0, '!');
        }
        out.push(normalised);
    }
    out
}

/// Go's `path.Clean`: collapse repeated `/`, drop `.` elements, resolve
/// `..` lexically, drop a trailing `/`; the empty path becomes `.`.
pub(crate) fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if matches!(parts.last(), Some(last) if *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_string()
    } else {
        joined
    }
}

/// The proper ancestors of a slash path, shortest first: `a/b/c` yields
/// `a`, `a/b`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/')
        .map(move |(i, _)| path.split_at(i).0)
        .filter(|a| !a.is_empty())
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    cleaned: String,
    matcher: Matcher,
}

impl Pattern {
    /// moby `patternmatcher.New` for one pattern.
    fn new(raw: &str) -> Result<Pattern, PatternError> {
        let p = clean(raw.trim());
        let (exclusion, body) = match p.strip_prefix('!') {
            Some("") => {
                return Err(PatternError {
                    pattern: p.clone(),
                    reason: "illegal exclusion pattern: \"!\"",
                })
            }
            Some(rest) => (true, rest.to_string()),
            None => (false, p.clone()),
        };
        let matcher = Matcher::compile(&body).map_err(|reason| PatternError {
            pattern: p.clone(),
            reason,
        })?;
        Ok(Pattern {
            exclusion,
            cleaned: body,
            matcher,
        })
    }

    fn matches(&self, path: &str) -> bool {
        self.matcher.matches(path)
    }
}

/// moby's four match strategies; which one a pattern gets matters because
/// the prefix/suffix shortcuts do not behave exactly like the regexp would.
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// `foo/**`: plain prefix test on the text before `**`.
    Prefix(String),
    /// `**/foo`, `**foo`, `**`: plain suffix test on the text after `**`.
    Suffix(String),
    Glob(Vec<Tok>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Detected {
    Exact,
    Prefix,
    Suffix,
    Glob,
}

impl Matcher {
    /// Port of moby's `Pattern.compile`, with `filepath.Match`'s syntax
    /// check folded in (moby runs that check first and refuses the pattern):
    /// the pattern is read by [`glob::lex`], and `**` and the match
    /// strategy are moby's.
    fn compile(pattern: &str) -> Result<Matcher, &'static str> {
        let lexemes = glob::lex(pattern)?;
        let star_at = |i: usize| lexemes.get(i).is_some_and(|l| l.tok == Tok::Star);
        let slash_at = |i: usize| {
            lexemes
                .get(i)
                .is_some_and(|l| !l.escaped && l.tok == Tok::Lit('/'))
        };
        let mut toks = Vec::new();
        let mut detected = Detected::Exact;
        let mut i = 0;
        let mut iteration = 0;
        while i < lexemes.len() {
            let lexeme = &lexemes[i];
            i += 1;
            match &lexeme.tok {
                Tok::Star if star_at(i) => {
                    i += 1;
                    // "**/" is treated as "**".
                    if slash_at(i) {
                        i += 1;
                    }
                    if i == lexemes.len() {
                        if detected == Detected::Exact {
                            detected = Detected::Prefix;
                        } else {
                            toks.push(Tok::AnyRest);
                            detected = Detected::Glob;
                        }
                    } else {
                        toks.push(Tok::AnyDirs);
                        detected = Detected::Glob;
                    }
                    if iteration == 0 {
                        detected = Detected::Suffix;
                    }
                }
                Tok::Class { ranges, .. } if ranges.iter().any(|(lo, hi)| lo > hi) => {
                    // Go's regexp compiler refuses a reversed range.
                    return Err(glob::BAD_PATTERN);
                }
                // An escaped character, `]`, and the wildcards make a regexp.
                tok @ (Tok::Star | Tok::One | Tok::Class { .. } | Tok::Lit(']')) => {
                    toks.push(tok.clone());
                    detected = Detected::Glob;
                }
                tok if lexeme.escaped => {
                    toks.push(tok.clone());
                    detected = Detected::Glob;
                }
                tok => toks.push(tok.clone()),
            }
            iteration += 1;
        }
        Ok(match detected {
            Detected::Exact => Matcher::Exact(pattern.to_string()),
            // moby slices two bytes off; cleaned patterns always have the
            // `**` right there, and strip_* cannot panic if they did not.
            Detected::Prefix => {
                Matcher::Prefix(pattern.strip_suffix("**").unwrap_or(pattern).to_string())
            }
            Detected::Suffix => {
                Matcher::Suffix(pattern.strip_prefix("**").unwrap_or(pattern).to_string())
            }
            Detected::Glob => Matcher::Glob(toks),
        })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            Matcher::Exact(s) => path == s,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            Matcher::Suffix(s) => {
                path.ends_with(s.as_str())
                    // "**/foo" also matches "foo" at the root.
                    || s.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Glob(toks) => {
                let states = glob::run(toks, path);
                states[toks.len()]
            }
        }
    }

    /// Whether some path starting with `prefix` could match. May say `true`
    /// for a pattern that can never match anything (harmless for pruning).
    fn could_match_with_prefix(&self, prefix: &str) -> bool {
        match self {
            Matcher::Exact(s) => s.starts_with(prefix),
            Matcher::Prefix(p) => prefix.starts_with(p.as_str()) || p.starts_with(prefix),
            // Any suffix can be appended after the prefix.
            Matcher::Suffix(_) => true,
            Matcher::Glob(toks) => glob::run(toks, prefix).iter().any(|&s| s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn single(pattern: &str) -> Pattern {
        Pattern::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    fn excluded(patterns: &[&str], path: &str) -> bool {
        DockerIgnore::try_parse(&patterns.join("\n"))
            .unwrap()
            .is_excluded(path)
    }

    #[derive(Clone, Copy, PartialEq, Debug)]
    enum T {
        Fail,
        Exact,
        Inexact,
    }

    /// moby patternmatcher_test.go `TestMatches` table (Linux entries).
    const MATCHES: &[(&str, &str, T)] = &[
        ("**", "file", T::Exact),
        ("**", "file/", T::Exact),
        ("**/", "file", T::Exact),
        ("**/", "file/", T::Exact),
        ("**", "/", T::Exact),
        ("**/", "/", T::Exact),
        ("**", "dir/file", T::Exact),
        ("**/", "dir/file", T::Exact),
        ("**", "dir/file/", T::Exact),
        ("**/", "dir/file/", T::Exact),
        ("**/**", "dir/file", T::Exact),
        ("**/**", "dir/file/", T::Exact),
        ("dir/**", "dir/file", T::Exact),
        ("dir/**", "dir/file/", T::Exact),
        ("dir/**", "dir/dir2/file", T::Exact),
        ("dir/**", "dir/dir2/file/", T::Exact),
        ("**/dir", "dir", T::Exact),
        ("**/dir", "dir/file", T::Inexact),
        ("**/dir2/*", "dir/dir2/file", T::Exact),
        ("**/dir2/*", "dir/dir2/file/", T::Inexact),
        ("**/dir2/**", "dir/dir2/dir3/file", T::Exact),
        ("**/dir2/**", "dir/dir2/dir3/file/", T::Exact),
        ("**file", "file", T::Exact),
        ("**file", "dir/file", T::Exact),
        ("**/file", "dir/file", T::Exact),
        ("**file", "dir/dir/file", T::Exact),
        ("**/file", "dir/dir/file", T::Exact),
        ("**/file*", "dir/dir/file", T::Exact),
        ("**/file*", "dir/dir/file.txt", T::Exact),
        ("**/file*txt", "dir/dir/file.txt", T::Exact),
        ("**/file*.txt", "dir/dir/file.txt", T::Exact),
        ("**/file*.txt*", "dir/dir/file.txt", T::Exact),
        ("**/**/*.txt", "dir/dir/file.txt", T::Exact),
        ("**/**/*.txt2", "dir/dir/file.txt", T::Fail),
        ("**/*.txt", "file.txt", T::Exact),
        ("**/**/*.txt", "file.txt", T::Exact),
        ("a**/*.txt", "a/file.txt", T::Exact),
        ("a**/*.txt", "a/dir/file.txt", T::Exact),
        ("a**/*.txt", "a/dir/dir/file.txt", T::Exact),
        ("a/*.txt", "a/dir/file.txt", T::Fail),
        ("a/*.txt", "a/file.txt", T::Exact),
        ("a/*.txt**", "a/file.txt", T::Exact),
        ("a[b-d]e", "ae", T::Fail),
        ("a[b-d]e", "ace", T::Exact),
        ("a[b-d]e", "aae", T::Fail),
        ("a[^b-d]e", "aze", T::Exact),
        (".*", ".foo", T::Exact),
        (".*", "foo", T::Fail),
        ("abc.def", "abcdef", T::Fail),
        ("abc.def", "abc.def", T::Exact),
        ("abc.def", "abcZdef", T::Fail),
        ("abc?def", "abcZdef", T::Exact),
        ("abc?def", "abcdef", T::Fail),
        ("**/foo/bar", "foo/bar", T::Exact),
        ("**/foo/bar", "dir/foo/bar", T::Exact),
        ("**/foo/bar", "dir/dir2/foo/bar", T::Exact),
        ("abc/**", "abc", T::Fail),
        ("abc/**", "abc/def", T::Exact),
        ("abc/**", "abc/def/ghi", T::Exact),
        ("**/.foo", ".foo", T::Exact),
        ("**/.foo", "bar.foo", T::Fail),
        ("a(b)c/def", "a(b)c/def", T::Exact),
        ("a(b)c/def", "a(b)c/xyz", T::Fail),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", T::Exact),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            T::Exact,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            T::Exact,
        ),
        ("a\\\\", "a\\", T::Exact),
        ("a\\*b", "a*b", T::Exact),
    ];

    /// moby's `MatchesOrParentMatches`, kept here only to check the table's
    /// "inexact" column (matches through a parent directory).
    fn or_parent_matches(di: &DockerIgnore, file: &str) -> bool {
        let mut matched = false;
        for p in &di.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file);
            if !m {
                m = ancestors(file).any(|a| p.matches(a));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    #[test]
    fn bytes_read_as_go_reads_them_one_replacement_per_bad_byte() {
        assert_eq!(go_text(b"plain"), "plain");
        assert_eq!(go_text(b"a\xe2\x82b"), "a\u{fffd}\u{fffd}b");
        assert_eq!(go_text(b"\xf0\x9f\x98"), "\u{fffd}\u{fffd}\u{fffd}");
        assert_eq!(go_text(b"\xe2\xe2\x82\xac"), "\u{fffd}\u{20ac}");
        let di = DockerIgnore::parse("k?\nd??\n");
        assert!(!di.is_excluded(&go_text(b"k\xe2\x82")));
        assert!(di.is_excluded(&go_text(b"d\xe2\x82")));
    }

    #[test]
    fn moby_matches_table_exact() {
        for &(pattern, text, want) in MATCHES {
            let got = single(pattern).matches(text);
            assert_eq!(got, want == T::Exact, "pattern={pattern:?} text={text:?}");
        }
    }

    #[test]
    fn moby_matches_table_with_parents() {
        for &(pattern, text, want) in MATCHES {
            let di = DockerIgnore::try_parse(pattern).unwrap();
            let got = or_parent_matches(&di, text);
            assert_eq!(got, want != T::Fail, "pattern={pattern:?} text={text:?}");
            // The incremental walk agrees on this table (as moby's
            // MatchesUsingParentResults subtest asserts). Paths with a
            // trailing slash are not walker paths, so skip those.
            if !text.ends_with('/') && !text.starts_with('/') {
                assert_eq!(
                    di.is_excluded(text),
                    want != T::Fail,
                    "walk pattern={pattern:?} text={text:?}"
                );
            }
        }
    }

    #[test]
    fn moby_multi_pattern_table() {
        let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        let exc = format!("!{whl}");
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (&["**", &exc], whl, false),
            (&["**", "!dist/*.whl"], whl, false),
        ];
        for (patterns, text, want) in cases {
            assert_eq!(excluded(patterns, text), *want, "{patterns:?} {text}");
        }
    }

    #[test]
    fn lone_exclamation_is_an_error() {
        for text in ["!", "! ", "!/", "docs\n!"] {
            let err = DockerIgnore::try_parse(text).unwrap_err();
            assert!(err.reason.contains("illegal exclusion"), "{text:?}");
        }
        // Lenient parse keeps the valid ones.
        assert_eq!(DockerIgnore::parse("docs\n!").patterns(), vec!["docs"]);
    }

    #[test]
    fn moby_compile_kinds() {
        let kind = |p: &str| match single(p).matcher {
            Matcher::Exact(_) => "exact",
            Matcher::Prefix(_) => "prefix",
            Matcher::Suffix(_) => "suffix",
            Matcher::Glob(_) => "glob",
        };
        for (p, k) in [
            ("*", "glob"),
            ("file*", "glob"),
            ("a*/b", "glob"),
            ("**", "suffix"),
            ("**/**", "glob"),
            ("dir/**", "prefix"),
            ("**/dir", "suffix"),
            ("**/dir2/*", "glob"),
            ("**file", "suffix"),
            ("a[b-d]e", "glob"),
            (".*", "glob"),
            ("abc.def", "exact"),
            ("a\\*b", "glob"),
        ] {
            assert_eq!(kind(p), k, "{p}");
        }
    }

    /// buildkit/patternmatcher ignorefile `TestReadAll`.
    #[test]
    fn reader_normalises_like_buildkit() {
        let content = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_lines(content),
            vec![
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
    }

    #[test]
    fn reader_details() {
        let text =
            "\u{feff}# bom comment\r\n  spaced  \r\n  # not a comment\n./x\na//b/../c/\n/\n\t\n";
        assert_eq!(
            read_lines(text),
            vec!["spaced", "# not a comment", "x", "a/c", "/"]
        );
        let di = DockerIgnore::parse(text);
        assert!(di.is_excluded("spaced"));
        assert!(di.is_excluded("# not a comment"));
        assert!(di.is_excluded("x"));
        assert!(di.is_excluded("a/c/d"));
        assert!(!di.is_excluded("a/b"));
        assert!(!di.is_excluded("bom comment"));
    }

    #[test]
    fn clean_matches_go() {
        for (i, o) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/def", "abc/def"),
            ("a/b/c", "a/b/c"),
            (".", "."),
            ("..", ".."),
            ("../..", "../.."),
            ("../../abc", "../../abc"),
            ("/abc", "/abc"),
            ("/", "/"),
            ("abc/", "abc"),
            ("abc/def/", "abc/def"),
            ("/abc/", "/abc"),
            ("abc//def//ghi", "abc/def/ghi"),
            ("//abc", "/abc"),
            ("abc/./def", "abc/def"),
            ("/./abc/def", "/abc/def"),
            ("abc/.", "abc"),
            ("abc/def/ghi/../jkl", "abc/def/jkl"),
            ("abc/def/../ghi/../jkl", "abc/jkl"),
            ("abc/def/..", "abc"),
            ("abc/def/../..", "."),
            ("/abc/def/../..", "/"),
            ("abc/def/../../..", ".."),
            ("/abc/def/../../..", "/"),
            ("abc/def/../../../ghi/jkl/../../../mno", "../../mno"),
            ("abc/./../def", "def"),
            ("abc//./../def", "def"),
            ("abc/../../././../def", "../../def"),
        ] {
            assert_eq!(clean(i), o, "{i:?}");
        }
    }

    /// Examples from the Dockerfile reference's .dockerignore section.
    #[test]
    fn docker_docs_examples() {
        let di = DockerIgnore::parse("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(di.is_excluded("somedir/temporary.txt"));
        assert!(di.is_excluded("somedir/temp"));
        assert!(!di.is_excluded("temporary.txt"));
        assert!(di.is_excluded("somedir/subdir/temporary.txt"));
        assert!(!di.is_excluded("a/b/c/temporary.txt"));
        assert!(di.is_excluded("tempa"));
        assert!(di.is_excluded("tempb"));
        assert!(!di.is_excluded("temp"));
        assert!(!di.is_excluded("tempab"));
        // `*/temp*` matches the directory, so everything below it too.
        assert!(di.is_excluded("somedir/temp/deep/file"));

        let go = DockerIgnore::parse("**/*.go");
        assert!(go.is_excluded("main.go"));
        assert!(go.is_excluded("a/b/c/main.go"));
        assert!(!go.is_excluded("a/b/c/main.gox"));

        let md = DockerIgnore::parse("*.md\n!README*.md\nREADME-secret.md");
        assert!(md.is_excluded("CHANGES.md"));
        assert!(!md.is_excluded("README.md"));
        assert!(!md.is_excluded("README-public.md"));
        assert!(md.is_excluded("README-secret.md"));
        // root-anchored: no match in subdirectories
        assert!(!md.is_excluded("docs/CHANGES.md"));

        let md2 = DockerIgnore::parse("*.md\nREADME-secret.md\n!README*.md");
        assert!(!md2.is_excluded("README-secret.md"));
        assert!(md2.is_excluded("CHANGES.md"));
    }

    #[test]
    fn root_anchored_not_gitignore() {
        let di = DockerIgnore::parse("foo\n/bar\n./baz\nnode_modules");
        assert!(di.is_excluded("foo"));
        assert!(!di.is_excluded("a/foo"));
        assert!(di.is_excluded("bar"));
        assert!(!di.is_excluded("x/bar"));
        assert!(di.is_excluded("baz"));
        assert!(di.is_excluded("baz/inner"));
        assert!(di.is_excluded("node_modules/x/y.js"));
        assert!(!di.is_excluded("web/node_modules/x.js"));
        assert!(!di.is_excluded("foobar"));
    }

    #[test]
    fn parent_directory_matches_exclude_children() {
        let di = DockerIgnore::parse("dir/*\ndir2/\nbuild/**");
        assert!(di.is_excluded("dir/a"));
        assert!(di.is_excluded("dir/a/b"));
        assert!(!di.is_excluded("dir"));
        assert!(di.is_excluded("dir2"));
        assert!(di.is_excluded("dir2/x/y"));
        assert!(!di.is_excluded("build"));
        assert!(di.is_excluded("build/out/bin"));
    }

    #[test]
    fn exceptions_re_include_under_excluded_dir() {
        let di = DockerIgnore::parse("a\n!a/keep.txt");
        assert!(di.is_excluded("a"));
        assert!(di.is_excluded("a/other.txt"));
        assert!(!di.is_excluded("a/keep.txt"));
        assert!(di.dir_may_have_included_children("a"));

        // moby test: folder, folder/ and folder/* followed by an exception.
        for first in ["docs", "docs/", "docs/*"] {
            let di = DockerIgnore::parse(&format!("{first}\n!docs/README.md"));
            assert!(!di.is_excluded("docs/README.md"), "{first}");
            assert!(di.is_excluded("docs/other.md"), "{first}");
        }

        // Exception order matters: last match wins.
        assert!(excluded(&["!fileutils.go", "*.go"], "x.go"));
        assert!(excluded(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!excluded(&["*.go", "!fileutils.go"], "fileutils.go"));

        // Re-including a whole sub-directory.
        let di = DockerIgnore::parse("**\n!src\n!Dockerfile");
        assert!(!di.is_excluded("src/main.rs"));
        assert!(!di.is_excluded("Dockerfile"));
        assert!(di.is_excluded("target/debug/x"));
    }

    #[test]
    fn incremental_semantics_follow_docker_walkers() {
        // Here the incremental walk (what Docker's walkers do) and a naive
        // "check every ancestor" evaluation disagree: the exception is skipped
        // for the directory `a` (nothing excluded it yet), so the walker never
        // records that it matched there.
        let di = DockerIgnore::parse("a/b\n!a");
        assert!(di.is_excluded("a/b"));
        assert!(!or_parent_matches(&di, "a/b"));
        // The step-wise API agrees with is_excluded.
        let (ex_a, info_a) = di.matches_with_parent("a", &MatchInfo::default());
        assert!(!ex_a);
        let (ex_ab, _) = di.matches_with_parent("a/b", &info_a);
        assert!(ex_ab);
    }

    #[test]
    fn escapes_and_classes() {
        let di = DockerIgnore::parse("\\!important\nfile\\?\n[a-c].txt\nx[^0-9]\n\\#hash");
        assert!(di.is_excluded("!important"));
        assert!(di.is_excluded("file?"));
        assert!(!di.is_excluded("filex"));
        assert!(di.is_excluded("a.txt"));
        assert!(di.is_excluded("c.txt"));
        assert!(!di.is_excluded("d.txt"));
        assert!(di.is_excluded("xa"));
        assert!(!di.is_excluded("x1"));
        assert!(di.is_excluded("#hash"));
        assert!(!di.has_exceptions());
    }

    #[test]
    fn star_alone_and_double_star_alone() {
        let star = DockerIgnore::parse("*");
        assert!(star.is_excluded("a"));
        assert!(star.is_excluded("a/b/c"));
        let all = DockerIgnore::parse("**");
        assert!(all.is_excluded("a/b/c"));
        assert!(!all.is_excluded("."));
        assert!(!all.is_excluded(""));
    }

    #[test]
    fn dot_dot_patterns_never_match() {
        let di = DockerIgnore::parse("../x\nfoo/../../y\n.");
        assert!(!di.is_excluded("x"));
        assert!(!di.is_excluded("y"));
        assert!(!di.is_excluded("z"));
    }

    #[test]
    fn pruning_predicate() {
        // No exceptions: nothing below an excluded dir can come back.
        let di = DockerIgnore::parse("node_modules\n*.log");
        assert!(!di.dir_may_have_included_children("node_modules"));
        assert!(!di.dir_may_have_included_children("node_modules/x"));

        let di = DockerIgnore::parse("node_modules\n!node_modules/keep/**");
        assert!(di.dir_may_have_included_children("node_modules"));
        assert!(di.dir_may_have_included_children("node_modules/keep"));
        assert!(!di.dir_may_have_included_children("node_modules/other"));

        // Wildcard exceptions: prune only when the exception cannot reach.
        let di = DockerIgnore::parse("vendor\ntarget\n!vendor/*/LICENSE");
        assert!(di.dir_may_have_included_children("vendor"));
        assert!(di.dir_may_have_included_children("vendor/foo"));
        assert!(!di.dir_may_have_included_children("vendor/foo/bar"));
        assert!(!di.dir_may_have_included_children("target"));

        // `**` exceptions can reach anywhere.
        let di = DockerIgnore::parse("vendor\n!**/*.keep");
        assert!(di.dir_may_have_included_children("vendor"));
        assert!(di.dir_may_have_included_children("vendor/a/b"));
        let di = DockerIgnore::parse("vendor\n!**keep");
        assert!(di.dir_may_have_included_children("vendor/a"));

        // An exception matching an ancestor reaches everything below it.
        let di = DockerIgnore::parse("a/b\n!a\na/b");
        assert!(di.dir_may_have_included_children("a/b"));

        // Prefix patterns.
        let di = DockerIgnore::parse("out\n!out/keep/**");
        assert!(di.dir_may_have_included_children("out/keep/deeper"));
        assert!(!di.dir_may_have_included_children("out/drop"));

        // Literal prefix trickery: `a/keepsake` is not under `a/keep`.
        let di = DockerIgnore::parse("a\n!a/keepsake");
        assert!(!di.dir_may_have_included_children("a/keep"));
        assert!(di.dir_may_have_included_children("a"));
    }

    #[test]
    fn pruning_is_conservative_exhaustively() {
        // For a small universe of paths, whenever some path below a pruned
        // directory is included, the predicate must have said "maybe".
        let names = ["a", "b", "keep", "x.go", "k.txt"];
        let mut paths = Vec::new();
        for n1 in names {
            paths.push(n1.to_string());
            for n2 in names {
                paths.push(format!("{n1}/{n2}"));
                for n3 in names {
                    paths.push(format!("{n1}/{n2}/{n3}"));
                }
            }
        }
        let files = [
            "a\n!a/keep",
            "a\n!a/*/keep",
            "*\n!**/keep",
            "a\nb\n!b/a/*.go",
            "**\n!a/b",
            "a/**\n!a/b/k.txt",
            "a\n!a/[bk]*/x.go",
            "a\n!*/keep/k.txt",
            "a\n!a?b",
        ];
        for text in files {
            let di = DockerIgnore::parse(text);
            for dir in &paths {
                if !di.is_excluded(dir) || di.dir_may_have_included_children(dir) {
                    continue;
                }
                for p in &paths {
                    if p.starts_with(&format!("{dir}/")) {
                        assert!(di.is_excluded(p), "{text:?}: {dir} pruned but {p} included");
                    }
                }
            }
        }
    }
}

//! Image references, checked with Docker's own grammar (the
//! distribution/reference module the daemon and the docker CLI parse tags
//! with: `regexp.go`, `normalize.go`'s `ParseNormalizedNamed`), so that a
//! tag `kiln check` accepts is one `docker build -t` accepts, and one it
//! refuses is refused here, at its line in kiln.yaml, before anything
//! runs.
//!
//! ```text
//! reference := name [ ":" tag ] [ "@" digest ]
//! name      := [ domain [ ":" port ] "/" ] path-component [ "/" path-component ]*
//! path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag       := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest    := algorithm ":" hex   (sha256: 64 hex digits, sha384: 96, sha512: 128)
//! ```
//!
//! A name is at most 255 characters, counted as the daemon of Engine
//! 20.10 counts it (with `docker.io/library/` in front of a bare name).
//! Errors are `String`s, only ever shown after the tag they are about.

use std::sync::LazyLock;

use regex::Regex;

/// The longest name (with its domain) a reference may have.
const NAME_MAX: usize = 255;

/// The grammar as regexes: `^(name)(?::(tag))?(?:@(digest))?$` and the
/// name alone, `^(?:(domain)/)?(path)$` (distribution/reference's
/// `ReferenceRegexp` and `anchoredNameRegexp`, ASCII only as in Go).
struct Grammar {
    reference: Regex,
    id: Regex,
}

static GRAMMAR: LazyLock<Grammar> = LazyLock::new(|| {
    let alphanumeric = "[a-z0-9]+";
    let separator = "(?:[._]|__|[-]+)";
    let domain_component = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
    let domain_name = format!(r"{domain_component}(?:\.{domain_component})*");
    let ipv6 = r"\[(?:[a-fA-F0-9:]+)\]";
    let domain = format!("(?:{domain_name}|{ipv6})(?::[0-9]+)?");
    let path_component = format!("{alphanumeric}(?:{separator}{alphanumeric})*");
    let path = format!("{path_component}(?:/{path_component})*");
    let name = format!("(?:{domain}/)?{path}");
    let tag = "[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
    let digest = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}";
    let reference = format!("^({name})(?::({tag}))?(?:@({digest}))?$");
    Grammar {
        reference: Regex::new(&reference).expect("the reference grammar compiles"),
        id: Regex::new("^[a-f0-9]{64}$").expect("the id pattern compiles"),
    }
});

/// What to write instead, said once for every malformed reference.
const SHAPE: &str = "use [HOST[:PORT]/]NAME[:TAG] with a lowercase NAME, e.g. localhost:5000/web:1";

/// A tag to build (`tags:`, `--set IMAGE.tags=`, the dashboard's edit):
/// a reference without a digest (the daemon refuses to tag with one).
pub fn check_tag(tag: &str) -> Result<(), String> {
    let digested = check_reference(tag)?;
    if digested {
        return Err("a tag cannot carry a digest (@ALGORITHM:HEX); use NAME:TAG".to_string());
    }
    Ok(())
}

/// An image to use (`image:`, `cache_from:`): any reference, digest
/// allowed. `Ok(true)` when it has a digest.
pub fn check_reference(reference: &str) -> Result<bool, String> {
    let g = &*GRAMMAR;
    if reference.is_empty() {
        return Err("it is empty".into());
    }
    if g.id.is_match(reference) {
        return Err("a 64-hex-digit image id is not a name".into());
    }
    let normalized = normalized(reference);
    let Some(parts) = g.reference.captures(&normalized) else {
        let lower = normalized.to_ascii_lowercase();
        if lower != normalized && g.reference.is_match(&lower) {
            return Err("the repository name must be lowercase".into());
        }
        return Err(format!("not a valid image reference ({SHAPE})"));
    };
    let name = parts.get(1).map_or("", |m| m.as_str());
    if name.len() > NAME_MAX {
        return Err(format!(
            "the name is {} characters long; at most {NAME_MAX} are allowed",
            name.len()
        ));
    }
    match parts.get(3) {
        Some(digest) => check_digest(digest.as_str()).map(|()| true),
        None => Ok(false),
    }
}

/// The reference as the daemon parses it: a name with no domain gets
/// `docker.io/` (and a one-component name `library/`), as
/// `ParseNormalizedNamed` does; the part before the first `/` is a domain
/// when it is `localhost`, has a `.` or `:`, or has uppercase letters.
/// The name and the tag of a reference without a digest: `host:5000/a/b:1`
/// → (`host:5000/a/b`, `1`); no tag means `latest`. A tag is what follows
/// the last `:` after the last `/` (a `:` before it is a registry port).
pub fn split_tag(reference: &str) -> (&str, &str) {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.rsplit_once(':') {
        Some((_, tag)) => {
            let name = reference.strip_suffix(tag).unwrap_or(reference);
            (name.strip_suffix(':').unwrap_or(name), tag)
        }
        None => (reference, "latest"),
    }
}

/// The tags of `tags` that `patterns` (an image's `push_tags`) choose, in
/// `tags`' order: a pattern is a tag, or has `*` for any run of
/// characters (`127.0.0.1:5000/*`, `*:1.2`, `*` for every tag).
pub fn push_tags_of(tags: &[String], patterns: &[String]) -> Vec<String> {
    tags.iter()
        .filter(|t| patterns.iter().any(|p| tag_matches(p, t)))
        .cloned()
        .collect()
}

/// Whether `tag` is what `pattern` says (`*`: any run of characters).
pub fn tag_matches(pattern: &str, tag: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = tag.strip_prefix(first) else {
        return false;
    };
    let middle: Vec<&str> = parts.collect();
    let Some((last, middle)) = middle.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = rest.get(at + part.len()..).unwrap_or_default(),
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn normalized(reference: &str) -> String {
    match reference.split_once('/') {
        None => format!("docker.io/library/{reference}"),
        Some((first, rest)) => {
            let is_domain = first == "localhost"
                || first.contains(['.', ':'])
                || first.to_ascii_lowercase() != first;
            if first == "index.docker.io" {
                format!("docker.io/{rest}")
            } else if is_domain {
                reference.to_string()
            } else {
                format!("docker.io/{reference}")
            }
        }
    }
}

/// A digest the daemon can verify: a known algorithm and its length of
/// lowercase hex.
fn check_digest(digest: &str) -> Result<(), String> {
    let (algorithm, hex) = digest.split_once(':').unwrap_or((digest, ""));
    let want = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => {
            return Err(format!(
                "unsupported digest algorithm '{algorithm}' (use sha256)"
            ))
        }
    };
    let lower_hex = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() != want || !lower_hex {
        return Err(format!(
            "a {algorithm} digest is {want} lowercase hex digits"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {

    #[test]
    fn push_tags_choose_tags_by_name_or_pattern() {
        let tags: Vec<String> = [
            "nu/api:latest",
            "127.0.0.1:5000/nu/api:1",
            "127.0.0.1:5000/nu/api:latest",
        ]
        .map(String::from)
        .into();
        let pick =
            |p: &[&str]| push_tags_of(&tags, &p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(pick(&["*"]), tags);
        assert_eq!(pick(&["127.0.0.1:5000/*"]), tags[1..].to_vec());
        assert_eq!(pick(&["*:latest"]), vec![tags[0].clone(), tags[2].clone()]);
        assert_eq!(pick(&["127.0.0.1:5000/*:1"]), vec![tags[1].clone()]);
        assert_eq!(pick(&["nu/api:latest"]), vec![tags[0].clone()]);
        assert!(
            pick(&["nu/api"]).is_empty(),
            "a name without its tag is no tag"
        );
        assert!(pick(&[]).is_empty());
        assert!(tag_matches("a*b*c", "abbc") && !tag_matches("a*b*c", "acb"));
        assert!(!tag_matches("ab*ba", "aba"), "the parts do not overlap");
    }
    use super::*;

    #[test]
    fn tags_docker_accepts() {
        for ok in [
            "web",
            "web:1",
            "web:latest",
            "kiln/web:1.2.3-rc_1",
            "localhost/web",
            "localhost:5000/a/b/c:dev",
            "127.0.0.1:5001/x:1",
            "registry.example.com/team/app:V1",
            "[::1]:5000/x:1",
            "a__b/c.d/e--f:T",
            "Registry.Example.com/x",
            "index.docker.io/library/busybox:1",
            &format!("x:{}", "t".repeat(128)),
        ] {
            assert_eq!(check_tag(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn tags_docker_refuses_say_why() {
        let why = |t: &str| check_tag(t).unwrap_err();
        assert!(why("Web:1").contains("lowercase"), "{}", why("Web:1"));
        assert!(why("kiln/Web").contains("lowercase"));
        assert!(why("a//b").contains("not a valid image reference"));
        assert!(why("web:").contains("not a valid image reference"));
        assert!(why(":1").contains("not a valid image reference"));
        assert!(why("web:.x").contains("not a valid image reference"));
        assert!(why(&format!("x:{}", "t".repeat(129))).contains("not a valid"));
        assert!(why(&"a".repeat(256)).contains("at most 255"));
        assert!(why("web a").contains("not a valid"));
        assert!(why("web\x1b[31m").contains("not a valid"));
        assert!(why("").contains("empty"));
        assert!(why(&"f".repeat(64)).contains("image id"));
        let digest = format!("web@sha256:{}", "a".repeat(64));
        assert!(why(&digest).contains("cannot carry a digest"));
        assert!(why(&format!("web:1@sha256:{}", "a".repeat(64))).contains("digest"));
    }

    #[test]
    fn references_may_carry_digests() {
        let d = "a".repeat(64);
        assert_eq!(check_reference(&format!("busybox@sha256:{d}")), Ok(true));
        assert_eq!(check_reference("alpine:3.20"), Ok(false));
        assert!(check_reference(&format!("busybox@sha256:{}", "A".repeat(64))).is_err());
        assert!(check_reference(&format!("busybox@md5:{}", "a".repeat(32))).is_err());
        assert!(check_reference("busybox@sha256:abc").is_err());
    }

    #[test]
    fn names_and_tags() {
        assert_eq!(
            split_tag("127.0.0.1:5001/kiln/x:1"),
            ("127.0.0.1:5001/kiln/x", "1")
        );
        assert_eq!(
            split_tag("localhost:5001/x"),
            ("localhost:5001/x", "latest")
        );
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("rw/pybase:3.11"), ("rw/pybase", "3.11"));
        assert_eq!(split_tag("ü/ß:ö"), ("ü/ß", "ö"));
    }
}

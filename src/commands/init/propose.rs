//! What `kiln init` proposes for the Dockerfiles it found: one image each,
//! a readable name, its tags, what it builds on, and the kiln.yaml text.
//! Pure: no I/O (the walk is `scan.rs`, the command `mod.rs`).
//!
//! Dependencies are not written as `depends_on`: kiln infers them from the
//! Dockerfiles, as soon as a `FROM` (or `COPY --from`, `RUN --mount=from=`)
//! names one of the stack's tags. So an image whose name a reference
//! evidently means (`FROM myorg/base:latest` and a `base/` directory) gets
//! that reference as its tag, and the plan orders the two.

use std::path::{Path, PathBuf};

use crate::config::ref_matches_tag;

/// A Dockerfile found in the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its directory, relative to the root (empty: the root itself).
    pub dir: PathBuf,
    /// Its file name: `Dockerfile`, `Dockerfile.SUFFIX` or `SUFFIX.Dockerfile`.
    pub file: String,
    /// The images it names from outside itself (`FROM`, `COPY --from`, ...).
    pub refs: Vec<String>,
}

impl Found {
    /// `Dockerfile.dev` and `dev.Dockerfile`: `dev`.
    fn suffix(&self) -> Option<&str> {
        self.file
            .strip_prefix("Dockerfile.")
            .or_else(|| self.file.strip_suffix(".Dockerfile"))
    }

    /// Its path relative to the root, with `/`.
    pub fn path(&self) -> String {
        let mut parts = components(&self.dir);
        parts.push(self.file.clone());
        parts.join("/")
    }
}

/// One image of the proposed kiln.yaml.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposed {
    pub name: String,
    /// The Dockerfile it comes from (index into the found list).
    pub found: usize,
    pub tags: Vec<String>,
    /// (reference, image it names) for references this stack builds.
    pub builds_on: Vec<(String, usize)>,
    /// References that would have made a dependency cycle: left as they are.
    pub cycles: Vec<String>,
}

/// The images for `found` (sorted by path), `root_name` naming a
/// Dockerfile at the root; in an order where each image comes after what
/// it builds on.
pub fn propose(root_name: &str, found: &[Found]) -> Vec<Proposed> {
    let names = names(root_name, found);
    let mut images: Vec<Proposed> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Proposed {
            name,
            found: i,
            tags: Vec::new(),
            builds_on: Vec::new(),
            cycles: Vec::new(),
        })
        .collect();
    link(&mut images, found);
    for img in &mut images {
        if img.tags.is_empty() {
            img.tags.push(format!("{}:latest", img.name));
        }
    }
    in_build_order(images)
}

/// Each Dockerfile's name: its directory's (the root's for the root) and
/// its suffix; where two would be the same, more of the path; then a
/// number.
fn names(root_name: &str, found: &[Found]) -> Vec<String> {
    let short: Vec<String> = found
        .iter()
        .map(|f| {
            let dir = components(&f.dir)
                .pop()
                .unwrap_or_else(|| root_name.to_string());
            with_suffix(&dir, f.suffix())
        })
        .collect();
    let long: Vec<String> = found
        .iter()
        .map(|f| {
            let mut parts = components(&f.dir);
            if parts.is_empty() {
                parts.push(root_name.to_string());
            }
            with_suffix(&parts.join("-"), f.suffix())
        })
        .collect();
    let mut chosen: Vec<String> = short
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let clash = short.iter().enumerate().any(|(j, t)| j != i && t == s);
            if clash {
                long[i].clone()
            } else {
                s.clone()
            }
        })
        .collect();
    for i in 0..chosen.len() {
        if chosen[..i].contains(&chosen[i]) {
            let base = chosen[i].clone();
            let n = (2..).find(|n| !chosen.contains(&format!("{base}-{n}")));
            chosen[i] = format!("{base}-{}", n.unwrap_or(2));
        }
    }
    chosen
}

fn with_suffix(base: &str, suffix: Option<&str>) -> String {
    match suffix {
        Some(s) => image_name(&format!("{base}-{s}")),
        None => image_name(base),
    }
}

/// `text` as an image name kiln and Docker accept: lower-case letters and
/// digits, single `-`, `.` or `_` between them (anything else becomes `-`).
pub fn image_name(text: &str) -> String {
    let mut out = String::new();
    let mut pending_sep: Option<char> = None;
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if let Some(sep) = pending_sep.take() {
                if !out.is_empty() {
                    out.push(sep);
                }
            }
            out.push(c);
        } else {
            let sep = if matches!(c, '.' | '_' | '-') { c } else { '-' };
            // A run of separators is one `-` (Docker refuses `a..b`, `a_-b`).
            pending_sep = Some(if pending_sep.is_some() { '-' } else { sep });
        }
    }
    if out.is_empty() {
        "image".to_string()
    } else {
        out
    }
}

/// Gives an image the references other Dockerfiles evidently mean by it,
/// as its tags, unless that would make a cycle.
fn link(images: &mut [Proposed], found: &[Found]) {
    for i in 0..images.len() {
        for reference in &found[i].refs {
            let Some(j) = meant_image(reference, i, images, found) else {
                continue;
            };
            if reaches(images, j, i) {
                images[i].cycles.push(reference.clone());
                continue;
            }
            let tag = with_tag(reference);
            if !images[j].tags.iter().any(|t| ref_matches_tag(&tag, t)) {
                images[j].tags.push(tag);
            }
            images[i].builds_on.push((reference.clone(), j));
        }
    }
}

/// The image (other than `from`) that `reference` evidently names: the
/// one whose name is the reference's last path component (`myorg/base:1`
/// → `base`), else the only one in a directory of that name without a
/// suffix; never one whose own Dockerfile builds on that same repository
/// (it extends the upstream image rather than being it).
fn meant_image(
    reference: &str,
    from: usize,
    images: &[Proposed],
    found: &[Found],
) -> Option<usize> {
    if reference.contains('@') {
        return None;
    }
    let repo = repository(reference);
    let last = image_name(repo.rsplit('/').next().unwrap_or(repo));
    let eligible = |j: &usize| {
        *j != from
            && !found[images[*j].found]
                .refs
                .iter()
                .any(|r| repository(r) == repo)
    };
    let by_name: Vec<usize> = (0..images.len())
        .filter(|&j| images[j].name == last)
        .filter(eligible)
        .collect();
    if let [j] = by_name[..] {
        return Some(j);
    }
    let by_dir: Vec<usize> = (0..images.len())
        .filter(|&j| {
            let f = &found[images[j].found];
            f.suffix().is_none()
                && components(&f.dir)
                    .last()
                    .is_some_and(|d| image_name(d) == last)
        })
        .filter(eligible)
        .collect();
    match by_dir[..] {
        [j] => Some(j),
        _ => None,
    }
}

/// `reference` without its tag, and without Docker Hub's implicit
/// `docker.io/library/` (`docker.io/library/base:1` → `base`).
fn repository(reference: &str) -> &str {
    let r = reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("docker.io/"))
        .unwrap_or(reference);
    // A tag is what follows a ':' in the last path component (a ':'
    // before a '/' is a registry's port).
    let last = r.rsplit_once('/').map_or(r, |(_, last)| last);
    match last.rsplit_once(':') {
        Some((_, tag)) => r
            .strip_suffix(tag)
            .and_then(|s| s.strip_suffix(':'))
            .unwrap_or(r),
        None => r,
    }
}

/// A reference with a tag (`:latest` when it has none, as `FROM` means).
fn with_tag(reference: &str) -> String {
    if has_tag(reference) {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

fn has_tag(reference: &str) -> bool {
    let last = reference
        .rsplit_once('/')
        .map_or(reference, |(_, last)| last);
    last.contains(':')
}

/// Whether image `from` builds on `to`, directly or through others.
fn reaches(images: &[Proposed], from: usize, to: usize) -> bool {
    let mut seen = vec![false; images.len()];
    let mut stack = vec![from];
    while let Some(i) = stack.pop() {
        if i == to {
            return true;
        }
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        stack.extend(images[i].builds_on.iter().map(|(_, j)| *j));
    }
    false
}

/// Images after what they build on, otherwise in the order found. The
/// `builds_on` indexes are renumbered to the new order.
fn in_build_order(images: Vec<Proposed>) -> Vec<Proposed> {
    let n = images.len();
    let mut placed = vec![false; n];
    let mut order: Vec<usize> = Vec::with_capacity(n);
    while order.len() < n {
        let next =
            (0..n).find(|&i| !placed[i] && images[i].builds_on.iter().all(|(_, j)| placed[*j]));
        // `link` allows no cycles; should one slip through, keep the rest.
        let next = next.unwrap_or_else(|| (0..n).find(|&i| !placed[i]).unwrap_or(0));
        placed[next] = true;
        order.push(next);
    }
    let position: Vec<usize> = {
        let mut p = vec![0; n];
        for (new, &old) in order.iter().enumerate() {
            p[old] = new;
        }
        p
    };
    let mut slots: Vec<Option<Proposed>> = images.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&old| slots[old].take())
        .map(|mut img| {
            for (_, j) in &mut img.builds_on {
                *j = position[*j];
            }
            img
        })
        .collect()
}

/// A path's normal components as strings (non-UTF-8 ones lossily: the
/// scan leaves such paths out).
fn components(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn found(path: &str, refs: &[&str]) -> Found {
        let p = Path::new(path);
        Found {
            dir: p.parent().map(Path::to_path_buf).unwrap_or_default(),
            file: p.file_name().unwrap().to_string_lossy().into_owned(),
            refs: refs.iter().map(|r| r.to_string()).collect(),
        }
    }

    fn names_of(images: &[Proposed]) -> Vec<&str> {
        images.iter().map(|i| i.name.as_str()).collect()
    }

    #[test]
    fn names_come_from_the_directory_and_the_suffix() {
        let f = [
            found("Dockerfile", &[]),
            found("Dockerfile.dev", &[]),
            found("api/Dockerfile", &[]),
            found("api/Dockerfile.Test", &[]),
            found("api/e2e.Dockerfile", &[]),
            found("Web App/Dockerfile", &[]),
        ];
        let images = propose("My_Shop", &f);
        assert_eq!(
            names_of(&images),
            [
                "my_shop",
                "my_shop-dev",
                "api",
                "api-test",
                "api-e2e",
                "web-app"
            ]
        );
    }

    #[test]
    fn a_clash_takes_more_of_the_path_then_a_number() {
        let f = [
            found("services/api/Dockerfile", &[]),
            found("tools/api/Dockerfile", &[]),
            found("a/b/c/Dockerfile", &[]),
            found("a-b/c/Dockerfile", &[]),
        ];
        let images = propose("root", &f);
        assert_eq!(
            names_of(&images),
            ["services-api", "tools-api", "a-b-c", "a-b-c-2"]
        );
    }

    #[test]
    fn image_names_are_what_docker_and_kiln_accept() {
        assert_eq!(image_name("My App"), "my-app");
        assert_eq!(image_name("..hidden__x--y.."), "hidden-x-y");
        assert_eq!(image_name("a.b_c-d"), "a.b_c-d");
        assert_eq!(image_name("ünï"), "n");
        assert_eq!(image_name("$$$"), "image");
    }

    #[test]
    fn a_from_naming_a_directory_gives_its_image_that_tag() {
        let f = [
            found("api/Dockerfile", &["registry.example:5000/team/base:1.2"]),
            found("base/Dockerfile", &[]),
            found("web/Dockerfile", &["team/base", "docker.io/library/api:7"]),
        ];
        let images = propose("root", &f);
        assert_eq!(names_of(&images), ["base", "api", "web"]);
        assert_eq!(
            images[0].tags,
            ["registry.example:5000/team/base:1.2", "team/base:latest"]
        );
        assert_eq!(images[1].tags, ["docker.io/library/api:7"]);
        assert_eq!(images[2].tags, ["web:latest"]);
        let deps: Vec<usize> = images[2].builds_on.iter().map(|(_, j)| *j).collect();
        assert_eq!(deps, [0, 1]);
    }

    #[test]
    fn digests_upstreams_and_cycles_link_nothing() {
        let f = [
            found("a/Dockerfile", &["b"]),
            found("b/Dockerfile", &["a:latest"]),
            found("node/Dockerfile", &["node:20"]),
            found("app/Dockerfile", &["node:20", "a@sha256:0000"]),
        ];
        let images = propose("root", &f);
        // a builds on b; b's FROM a would close a cycle.
        let b = images.iter().find(|i| i.name == "b").unwrap();
        assert_eq!(b.tags, ["b:latest"]);
        assert_eq!(b.cycles, ["a:latest"]);
        let a = images.iter().find(|i| i.name == "a").unwrap();
        assert_eq!(a.builds_on.len(), 1);
        assert_eq!(names_of(&images)[..2], ["b", "a"]);
        // node/ extends the upstream node image: app's FROM node:20 means
        // the upstream, and a digest never names a build.
        let app = images.iter().find(|i| i.name == "app").unwrap();
        assert!(app.builds_on.is_empty());
        assert_eq!(
            images.iter().find(|i| i.name == "node").unwrap().tags,
            ["node:latest"]
        );
    }
}

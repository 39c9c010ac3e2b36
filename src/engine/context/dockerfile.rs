//! Where the Dockerfile is, seen from the build context: inside it (a
//! clean relative path), outside it (its real path) or inline text; and the
//! name the daemon is told it by.

use std::fs;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{io_err, ContextError, ContextSpec};
use crate::config::Dockerfile;
use crate::engine::dockerignore::clean;

impl ContextSpec {
    /// The Dockerfile's name inside the context (as sent in a tar), as the
    /// daemon is told it: the path, or the generated name of a Dockerfile
    /// added to the context.
    pub fn dockerfile_name(&self) -> String {
        match (locate_dockerfile(self), &self.dockerfile) {
            (Ok(DockerfilePlace::Outside(real)), Dockerfile::Path(p)) => fs::read(&real)
                .map(|content| generated_dockerfile_name(&content))
                .unwrap_or_else(|_| p.clone()),
            // Inside, but named from outside (`/abs/ctx/Dockerfile`,
            // `../ctx/Dockerfile`): the daemon wants it relative.
            (Ok(DockerfilePlace::Inside(rel)), Dockerfile::Path(p)) if names_from_outside(p) => rel,
            (_, Dockerfile::Path(p)) => p.clone(),
            (_, Dockerfile::Inline(text)) => inline_dockerfile_name(text),
        }
    }
}

/// The name an inline Dockerfile is sent under: `.dockerfile.` and 20 hex
/// digits of its SHA-256. The docker CLI uses 20 random characters; a name
/// derived from the text keeps an unchanged Dockerfile from looking like a
/// change.
pub fn inline_dockerfile_name(text: &str) -> String {
    generated_dockerfile_name(text.as_bytes())
}

fn names_from_outside(path: &str) -> bool {
    let cleaned = clean(path);
    Path::new(path).is_absolute() || cleaned == ".." || cleaned.starts_with("../")
}

pub(super) fn generated_dockerfile_name(content: &[u8]) -> String {
    let hash = Sha256::digest(content);
    format!(".dockerfile.{}", hex::encode(&hash[..10]))
}

/// BuildKit's per-Dockerfile ignore file for the Dockerfile at `path`:
/// `<its name>.dockerignore` beside it.
pub fn dockerfile_ignore_path(path: &Path) -> Option<PathBuf> {
    let mut name = path.file_name()?.to_os_string();
    name.push(".dockerignore");
    Some(path.with_file_name(name))
}

/// The ignore file a build of `root` with the Dockerfile at `place`
/// follows, as the daemon does: the Dockerfile's own
/// ([`dockerfile_ignore_path`], beside its real path, where kiln's session
/// serves it from) when it exists, which replaces the context's
/// `.dockerignore`; else `.dockerignore` at the root.
pub fn ignore_file(root: &Path, place: &DockerfilePlace) -> PathBuf {
    let real = match place {
        DockerfilePlace::Inside(rel) => {
            let path = root.join(rel);
            fs::canonicalize(&path).unwrap_or(path)
        }
        DockerfilePlace::Outside(real) => real.clone(),
        DockerfilePlace::Inline(_) => return root.join(super::DOCKERIGNORE),
    };
    match dockerfile_ignore_path(&real) {
        Some(own) if own.is_file() => own,
        _ => root.join(super::DOCKERIGNORE),
    }
}

/// Where the Dockerfile is, seen from the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerfilePlace {
    /// Inside the context, at this clean `/`-separated relative path.
    Inside(String),
    /// Outside the context (given so, or a symlink out of it): its real
    /// path. `docker build -f ../Dockerfile ctx` builds such a Dockerfile.
    Outside(PathBuf),
    /// Inline text.
    Inline(String),
}

/// Finds the Dockerfile: inline text; inside the context (its clean
/// relative path, as given: a symlink to elsewhere in the context stays a
/// symlink); or outside it (its real path), told apart as the docker CLI
/// does, after resolving symlinks. Fails when a path leads to no file.
pub fn locate_dockerfile(spec: &ContextSpec) -> Result<DockerfilePlace, ContextError> {
    let path = match &spec.dockerfile {
        Dockerfile::Inline(text) => return Ok(DockerfilePlace::Inline(text.clone())),
        Dockerfile::Path(path) => path,
    };
    let given = Path::new(path);
    // Joined and cleaned lexically first, as Go's filepath.Join does:
    // `sub/../../Dockerfile` need not have a `sub`.
    let abs = lexically_clean(&if given.is_absolute() {
        given.to_path_buf()
    } else {
        spec.root.join(given)
    });
    let not_found = || ContextError::DockerfileNotFound { path: abs.clone() };
    let real = fs::canonicalize(&abs).map_err(|_| not_found())?;
    if !fs::metadata(&real).map_err(|_| not_found())?.is_file() {
        return Err(not_found());
    }
    let root = fs::canonicalize(&spec.root).map_err(io_err(&spec.root))?;
    let Ok(real_rel) = real.strip_prefix(&root) else {
        return Ok(DockerfilePlace::Outside(real));
    };
    match lexical_rel(&spec.root, given, &root)? {
        Some(rel) => Ok(DockerfilePlace::Inside(rel)),
        // Named through a path that leaves the context and comes back in.
        None => Ok(DockerfilePlace::Inside(
            real_rel
                .to_str()
                .ok_or_else(|| ContextError::NonUtf8Path { path: real.clone() })?
                .to_string(),
        )),
    }
}

/// `path` with `.` and `dir/..` removed without looking at the disk.
fn lexically_clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for comp in path.components() {
        match comp {
            Component::CurDir => {}
            Component::ParentDir => {
                if out.file_name().is_some() {
                    out.pop();
                } else if !out.has_root() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// The Dockerfile path `given` as a clean, slash-separated path inside
/// `root`, without resolving symlinks; None when it leads outside.
fn lexical_rel(
    root: &Path,
    given: &Path,
    real_root: &Path,
) -> Result<Option<String>, ContextError> {
    let relative: PathBuf = if given.is_absolute() {
        // The root may have been given relative or through a symlink.
        match given
            .strip_prefix(root)
            .or_else(|_| given.strip_prefix(real_root))
        {
            Ok(rest) => rest.to_path_buf(),
            Err(_) => return Ok(None),
        }
    } else {
        given.to_path_buf()
    };
    let mut parts = Vec::new();
    for comp in relative.components() {
        match comp {
            Component::Normal(s) => {
                parts.push(s.to_str().ok_or_else(|| ContextError::NonUtf8Path {
                    path: given.to_path_buf(),
                })?)
            }
            Component::CurDir => {}
            Component::ParentDir => parts.push(".."),
            Component::RootDir | Component::Prefix(_) => return Ok(None),
        }
    }
    let cleaned = clean(&parts.join("/"));
    if cleaned == ".." || cleaned.starts_with("../") || cleaned == "." {
        return Ok(None);
    }
    Ok(Some(cleaned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::context::fixture::write;
    use crate::engine::context::walk;
    #[cfg(unix)]
    use std::os::unix::fs::symlink;

    #[test]
    fn a_dockerfile_outside_the_context_is_located_and_added() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ctx");
        write(&root, "a.txt", b"x");
        write(dir.path(), "Dockerfile", b"FROM scratch\n");
        let real = fs::canonicalize(dir.path().join("Dockerfile")).unwrap();
        let generated = inline_dockerfile_name("FROM scratch\n");
        let path_spec = |p: &str| ContextSpec {
            root: root.clone(),
            dockerfile: Dockerfile::Path(p.to_string()),
        };
        for given in [
            "../Dockerfile".to_string(),
            "sub/../../Dockerfile".to_string(),
            dir.path().join("Dockerfile").to_string_lossy().into_owned(),
        ] {
            let spec = path_spec(&given);
            assert_eq!(
                locate_dockerfile(&spec).unwrap(),
                DockerfilePlace::Outside(real.clone()),
                "{given}"
            );
            // In the context under a generated name, as an inline one.
            assert_eq!(spec.dockerfile_name(), generated, "{given}");
            let entries = walk(&spec).unwrap();
            let rels: Vec<&str> = entries.iter().map(|e| e.rel.as_str()).collect();
            assert_eq!(
                rels,
                [generated.as_str(), ".dockerignore", "a.txt"],
                "{given}"
            );
            let added = entries.iter().find(|e| e.rel == generated).unwrap();
            assert_eq!(added.text().as_deref(), Some("FROM scratch\n"));
        }
        // A symlink out of the context is outside too.
        #[cfg(unix)]
        {
            symlink("../Dockerfile", root.join("Dockerfile")).unwrap();
            assert_eq!(
                locate_dockerfile(&path_spec("Dockerfile")).unwrap(),
                DockerfilePlace::Outside(real.clone())
            );
        }
        // Inside, however it is spelled.
        write(&root, "docker/Dockerfile", b"FROM scratch");
        for given in [
            root.join("docker/Dockerfile")
                .to_string_lossy()
                .into_owned(),
            "../ctx/docker/Dockerfile".to_string(),
            "./docker//Dockerfile".to_string(),
        ] {
            assert_eq!(
                locate_dockerfile(&path_spec(&given)).unwrap(),
                DockerfilePlace::Inside("docker/Dockerfile".into()),
                "{given}"
            );
        }
        // The daemon is told a relative name; a relative one is kept as given.
        for (given, told) in [
            (
                root.join("docker/Dockerfile")
                    .to_string_lossy()
                    .into_owned(),
                "docker/Dockerfile",
            ),
            ("../ctx/docker/Dockerfile".to_string(), "docker/Dockerfile"),
            ("./docker/Dockerfile".to_string(), "./docker/Dockerfile"),
        ] {
            assert_eq!(path_spec(&given).dockerfile_name(), told, "{given}");
        }
    }
}

//! Finding the stack: `--file PATH` (repeatable, for compose files), else
//! `$KILN_FILE`, else `kiln.yaml`/`kiln.yml` in the current directory or
//! the nearest parent, else — as the compose CLI looks — the nearest
//! compose file (`compose.yaml`, `compose.yml`, `docker-compose.yml`,
//! `docker-compose.yaml`) with the first override file beside it
//! (`compose.override.yml`, ...).

use std::path::{Path, PathBuf};

use super::compose::{FILE_NAMES as COMPOSE_FILE_NAMES, OVERRIDE_FILE_NAMES};

/// File names looked for, in order of preference within one directory.
pub const FILE_NAMES: [&str; 2] = ["kiln.yaml", "kiln.yml"];

/// Why no config file could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error("no kiln.yaml or compose file (compose.yaml, docker-compose.yml, ...) found in {} or any parent directory; create one or pass --file PATH", start.display())]
    NotFound { start: PathBuf },
    #[error("--file {}: no such file", path.display())]
    ExplicitMissing { path: PathBuf },
    #[error("KILN_FILE={}: no such file; fix or unset KILN_FILE, or pass --file PATH", path.display())]
    EnvMissing { path: PathBuf },
}

/// Locates the stack's file(s). Explicit or `$KILN_FILE` paths are returned
/// as given (so messages show what the user typed); relative ones are
/// checked against `cwd`. A discovered kiln.yaml is `dir.join("kiln.yaml")`
/// for the nearest directory, starting at `cwd`, that has one; only when no
/// directory up the tree has one is a compose file looked for the same way.
pub fn discover(
    explicit: &[PathBuf],
    env_kiln_file: Option<&str>,
    cwd: &Path,
) -> Result<Vec<PathBuf>, DiscoverError> {
    if !explicit.is_empty() {
        if let Some(missing) = explicit.iter().find(|p| !cwd.join(p).is_file()) {
            return Err(DiscoverError::ExplicitMissing {
                path: missing.clone(),
            });
        }
        return Ok(explicit.to_vec());
    }
    // An empty KILN_FILE is treated as unset, as shells often export "".
    if let Some(s) = env_kiln_file.filter(|s| !s.trim().is_empty()) {
        let p = PathBuf::from(s);
        return if cwd.join(&p).is_file() {
            Ok(vec![p])
        } else {
            Err(DiscoverError::EnvMissing { path: p })
        };
    }
    if let Some(kiln) = nearest(cwd, &FILE_NAMES) {
        return Ok(vec![kiln]);
    }
    if let Some(compose) = nearest(cwd, &COMPOSE_FILE_NAMES) {
        let dir = compose.parent().unwrap_or(cwd);
        let overrides = OVERRIDE_FILE_NAMES
            .iter()
            .map(|n| dir.join(n))
            .find(|p| p.is_file());
        return Ok(std::iter::once(compose).chain(overrides).collect());
    }
    Err(DiscoverError::NotFound {
        start: cwd.to_path_buf(),
    })
}

/// The first of `names` in the nearest directory, from `cwd` up, that has
/// one.
fn nearest(cwd: &Path, names: &[&str]) -> Option<PathBuf> {
    cwd.ancestors()
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn finds_in_parent_and_prefers_yaml() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        fs::create_dir_all(&deep).unwrap();
        fs::write(tmp.path().join("a/kiln.yml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], None, &deep).unwrap()[0],
            tmp.path().join("a/kiln.yml")
        );
        fs::write(tmp.path().join("a/kiln.yaml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], None, &deep).unwrap()[0],
            tmp.path().join("a/kiln.yaml")
        );
        fs::write(deep.join("kiln.yml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], None, &deep).unwrap()[0],
            deep.join("kiln.yml")
        );
    }

    #[test]
    fn explicit_and_env_win() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("kiln.yaml"), "").unwrap();
        fs::write(tmp.path().join("other.yaml"), "").unwrap();
        let got = discover(&["other.yaml".into()], Some("kiln.yaml"), tmp.path());
        assert_eq!(got.unwrap(), vec![PathBuf::from("other.yaml")]);
        let got = discover(&[], Some("other.yaml"), tmp.path());
        assert_eq!(got.unwrap(), vec![PathBuf::from("other.yaml")]);
        let got = discover(&[], Some(""), tmp.path());
        assert_eq!(got.unwrap(), vec![tmp.path().join("kiln.yaml")]);
        let err =
            discover(&["kiln.yaml".into(), "nope.yaml".into()], None, tmp.path()).unwrap_err();
        assert_eq!(err.to_string(), "--file nope.yaml: no such file");
        let err = discover(&[], Some("nope.yaml"), tmp.path()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("KILN_FILE=nope.yaml: no such file"));
    }

    #[test]
    fn compose_files_only_without_a_kiln_yaml_up_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("app/src");
        fs::create_dir_all(&deep).unwrap();
        let app = tmp.path().join("app");
        for name in ["docker-compose.yaml", "docker-compose.yml", "compose.yml"] {
            fs::write(app.join(name), "services: {}").unwrap();
        }
        // compose.yml is preferred, and docker-compose.yml to .yaml.
        assert_eq!(
            discover(&[], None, &deep).unwrap(),
            vec![app.join("compose.yml")]
        );
        fs::write(app.join("docker-compose.override.yaml"), "").unwrap();
        fs::write(app.join("compose.override.yaml"), "").unwrap();
        assert_eq!(
            discover(&[], None, &deep).unwrap(),
            vec![app.join("compose.yml"), app.join("compose.override.yaml")]
        );
        fs::write(app.join("compose.override.yml"), "").unwrap();
        assert_eq!(
            discover(&[], None, &deep).unwrap()[1],
            app.join("compose.override.yml")
        );
        // A kiln.yaml further up the tree wins over a nearer compose file.
        fs::write(tmp.path().join("kiln.yaml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], None, &deep).unwrap(),
            vec![tmp.path().join("kiln.yaml")]
        );
        let empty = tempfile::tempdir().unwrap();
        let err = discover(&[], None, empty.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("no kiln.yaml or compose file"),
            "{err}"
        );
    }
}

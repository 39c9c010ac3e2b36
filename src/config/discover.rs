//! Finding `kiln.yaml`: `--file PATH`, else `$KILN_FILE`, else `kiln.yaml`
//! or `kiln.yml` in the current directory or the nearest parent.

use std::path::{Path, PathBuf};

/// File names looked for, in order of preference within one directory.
pub const FILE_NAMES: [&str; 2] = ["kiln.yaml", "kiln.yml"];

/// Why no config file could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoverError {
    #[error("no kiln.yaml found in {} or any parent directory; create one or pass --file PATH", start.display())]
    NotFound { start: PathBuf },
    #[error("--file {}: no such file", path.display())]
    ExplicitMissing { path: PathBuf },
    #[error("KILN_FILE={}: no such file; fix or unset KILN_FILE, or pass --file PATH", path.display())]
    EnvMissing { path: PathBuf },
}

/// Locates the config file. An explicit or `$KILN_FILE` path is returned as
/// given (so messages show what the user typed); a relative one is checked
/// against `cwd`. A discovered file is `dir.join("kiln.yaml")` for the
/// nearest directory, starting at `cwd`, that has one.
pub fn discover(
    explicit: Option<&Path>,
    env_kiln_file: Option<&str>,
    cwd: &Path,
) -> Result<PathBuf, DiscoverError> {
    if let Some(p) = explicit {
        return if cwd.join(p).is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(DiscoverError::ExplicitMissing {
                path: p.to_path_buf(),
            })
        };
    }
    // An empty KILN_FILE is treated as unset, as shells often export "".
    if let Some(s) = env_kiln_file.filter(|s| !s.trim().is_empty()) {
        let p = PathBuf::from(s);
        return if cwd.join(&p).is_file() {
            Ok(p)
        } else {
            Err(DiscoverError::EnvMissing { path: p })
        };
    }
    for dir in cwd.ancestors() {
        for name in FILE_NAMES {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    Err(DiscoverError::NotFound {
        start: cwd.to_path_buf(),
    })
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
            discover(None, None, &deep).unwrap(),
            tmp.path().join("a/kiln.yml")
        );
        fs::write(tmp.path().join("a/kiln.yaml"), "images: []").unwrap();
        assert_eq!(
            discover(None, None, &deep).unwrap(),
            tmp.path().join("a/kiln.yaml")
        );
        fs::write(deep.join("kiln.yml"), "images: []").unwrap();
        assert_eq!(discover(None, None, &deep).unwrap(), deep.join("kiln.yml"));
    }

    #[test]
    fn explicit_and_env_win() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("kiln.yaml"), "").unwrap();
        fs::write(tmp.path().join("other.yaml"), "").unwrap();
        let got = discover(Some(Path::new("other.yaml")), Some("kiln.yaml"), tmp.path());
        assert_eq!(got.unwrap(), PathBuf::from("other.yaml"));
        let got = discover(None, Some("other.yaml"), tmp.path());
        assert_eq!(got.unwrap(), PathBuf::from("other.yaml"));
        let got = discover(None, Some(""), tmp.path());
        assert_eq!(got.unwrap(), tmp.path().join("kiln.yaml"));
        let err = discover(Some(Path::new("nope.yaml")), None, tmp.path()).unwrap_err();
        assert_eq!(err.to_string(), "--file nope.yaml: no such file");
        let err = discover(None, Some("nope.yaml"), tmp.path()).unwrap_err();
        assert!(err
            .to_string()
            .starts_with("KILN_FILE=nope.yaml: no such file"));
    }
}

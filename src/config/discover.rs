//! Finding the stack: `--file PATH` (repeatable, for compose files), else
//! `$KILN_FILE`, else `$COMPOSE_FILE` (compose files separated by
//! `$COMPOSE_PATH_SEPARATOR`, default `:`; also read, as the compose CLI
//! does, from the `--env-file`s or `.env` in the current directory), else
//! `kiln.yaml`/`kiln.yml` in the current directory or the nearest parent,
//! else — as the compose CLI looks — the nearest compose file
//! (`compose.yaml`, `compose.yml`, `docker-compose.yml`,
//! `docker-compose.yaml`) with the first override file beside it
//! (`compose.override.yml`, ...). What is set beats what is found.

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
    #[error("COMPOSE_FILE names {}: no such file; fix or unset COMPOSE_FILE (from {from}), or pass --file PATH", path.display())]
    ComposeFileMissing { path: PathBuf, from: String },
}

/// What the environment says about where the stack is: variables as
/// they were when kiln started, and the env files that may set
/// `COMPOSE_FILE` (see the module's doc).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileEnv {
    /// `$KILN_FILE`.
    pub kiln_file: Option<String>,
    /// `$COMPOSE_FILE`.
    pub compose_file: Option<String>,
    /// `$COMPOSE_PATH_SEPARATOR`.
    pub compose_path_separator: Option<String>,
    /// `$COMPOSE_DISABLE_ENV_FILE`.
    pub compose_disable_env_file: Option<String>,
    /// `--env-file`s (else `.env` in the current directory).
    pub env_files: Vec<PathBuf>,
}

impl FileEnv {
    /// The variables from `env` (the process environment), and the
    /// `--env-file`s.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>, env_files: &[PathBuf]) -> FileEnv {
        FileEnv {
            kiln_file: env("KILN_FILE"),
            compose_file: env("COMPOSE_FILE"),
            compose_path_separator: env("COMPOSE_PATH_SEPARATOR"),
            compose_disable_env_file: env("COMPOSE_DISABLE_ENV_FILE"),
            env_files: env_files.to_vec(),
        }
    }

    /// The files `COMPOSE_FILE` names (relative to `cwd`), and where the
    /// setting came from: the process environment, or (`in_env_file`) the
    /// `--env-file`s or `.env` in `cwd`. `None`: not set there (or empty).
    fn compose_files(&self, cwd: &Path, in_env_file: bool) -> Option<(Vec<PathBuf>, String)> {
        let (list, sep, from) = if in_env_file {
            let lookup = |k: &str| match k {
                "COMPOSE_DISABLE_ENV_FILE" => self.compose_disable_env_file.clone(),
                _ => None,
            };
            let files: Vec<PathBuf> = self.env_files.iter().map(|f| cwd.join(f)).collect();
            let vars = super::compose::env_file_vars(&files, cwd, &lookup);
            let sep = self
                .compose_path_separator
                .clone()
                .or_else(|| vars.get("COMPOSE_PATH_SEPARATOR").cloned());
            (vars.get("COMPOSE_FILE")?.clone(), sep, "an env file")
        } else {
            let list = self.compose_file.clone()?;
            (list, self.compose_path_separator.clone(), "the environment")
        };
        let sep = sep
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| ":".to_string());
        let files: Vec<PathBuf> = list
            .split(sep.as_str())
            .filter(|p| !p.trim().is_empty())
            .map(PathBuf::from)
            .collect();
        (!files.is_empty()).then(|| (files, from.to_string()))
    }

    /// [`FileEnv::compose_files`], each of which must exist.
    fn existing_compose_files(
        &self,
        cwd: &Path,
        in_env_file: bool,
    ) -> Option<Result<Vec<PathBuf>, DiscoverError>> {
        let (files, from) = self.compose_files(cwd, in_env_file)?;
        Some(match files.iter().find(|p| !cwd.join(p).is_file()) {
            Some(missing) => Err(DiscoverError::ComposeFileMissing {
                path: missing.clone(),
                from,
            }),
            None => Ok(files),
        })
    }
}

/// Locates the stack's file(s). Explicit or environment paths are returned
/// as given (so messages show what the user typed); relative ones are
/// checked against `cwd`. A discovered kiln.yaml is `dir.join("kiln.yaml")`
/// for the nearest directory, starting at `cwd`, that has one; only when no
/// directory up the tree has one is a compose file looked for: as
/// `COMPOSE_FILE` in an env file names them, else the same way.
pub fn discover(
    explicit: &[PathBuf],
    env: &FileEnv,
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
    if let Some(s) = env.kiln_file.as_deref().filter(|s| !s.trim().is_empty()) {
        let p = PathBuf::from(s);
        return if cwd.join(&p).is_file() {
            Ok(vec![p])
        } else {
            Err(DiscoverError::EnvMissing { path: p })
        };
    }
    if let Some(files) = env.existing_compose_files(cwd, false) {
        return files;
    }
    if let Some(kiln) = nearest(cwd, &FILE_NAMES) {
        return Ok(vec![kiln]);
    }
    if let Some(files) = env.existing_compose_files(cwd, true) {
        return files;
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

    fn kiln_file(v: &str) -> FileEnv {
        FileEnv {
            kiln_file: Some(v.to_string()),
            ..FileEnv::default()
        }
    }

    #[test]
    fn compose_file_names_the_files_from_the_environment_or_an_env_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for f in ["kiln.yaml", "a.yml", "b.yml", "compose.yaml"] {
            fs::write(dir.join(f), "").unwrap();
        }
        let set = |files: &str, sep: Option<&str>| FileEnv {
            compose_file: Some(files.to_string()),
            compose_path_separator: sep.map(String::from),
            ..FileEnv::default()
        };
        // Set in the environment, it beats a kiln.yaml that is only found.
        let got = discover(&[], &set("a.yml:b.yml", None), dir).unwrap();
        assert_eq!(got, [PathBuf::from("a.yml"), PathBuf::from("b.yml")]);
        let got = discover(&[], &set("b.yml;a.yml", Some(";")), dir).unwrap();
        assert_eq!(got, [PathBuf::from("b.yml"), PathBuf::from("a.yml")]);
        let err = discover(&[], &set("a.yml:nope.yml", None), dir).unwrap_err();
        assert_eq!(
            err.to_string(),
            "COMPOSE_FILE names nope.yml: no such file; fix or unset COMPOSE_FILE (from the environment), or pass --file PATH"
        );
        // KILN_FILE and -f win; an empty COMPOSE_FILE is unset.
        let both = FileEnv {
            kiln_file: Some("kiln.yaml".into()),
            ..set("a.yml", None)
        };
        assert_eq!(
            discover(&[], &both, dir).unwrap(),
            [PathBuf::from("kiln.yaml")]
        );
        assert_eq!(
            discover(&[], &set("", None), dir).unwrap(),
            [dir.join("kiln.yaml")]
        );
        // From .env: as compose discovery, after a kiln.yaml.
        fs::write(
            dir.join(".env"),
            "COMPOSE_PATH_SEPARATOR=,\nCOMPOSE_FILE=b.yml,a.yml\n",
        )
        .unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), dir).unwrap(),
            [dir.join("kiln.yaml")]
        );
        fs::remove_file(dir.join("kiln.yaml")).unwrap();
        let got = discover(&[], &FileEnv::default(), dir).unwrap();
        assert_eq!(got, [PathBuf::from("b.yml"), PathBuf::from("a.yml")]);
        let off = FileEnv {
            compose_disable_env_file: Some("1".into()),
            ..FileEnv::default()
        };
        assert_eq!(
            discover(&[], &off, dir).unwrap(),
            [dir.join("compose.yaml")]
        );
        fs::write(dir.join("other.env"), "COMPOSE_FILE=a.yml\n").unwrap();
        let env_file = FileEnv {
            env_files: vec!["other.env".into()],
            ..FileEnv::default()
        };
        assert_eq!(
            discover(&[], &env_file, dir).unwrap(),
            [PathBuf::from("a.yml")]
        );
    }

    #[test]
    fn finds_in_parent_and_prefers_yaml() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("a/b/c");
        fs::create_dir_all(&deep).unwrap();
        fs::write(tmp.path().join("a/kiln.yml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), &deep).unwrap()[0],
            tmp.path().join("a/kiln.yml")
        );
        fs::write(tmp.path().join("a/kiln.yaml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), &deep).unwrap()[0],
            tmp.path().join("a/kiln.yaml")
        );
        fs::write(deep.join("kiln.yml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), &deep).unwrap()[0],
            deep.join("kiln.yml")
        );
    }

    #[test]
    fn explicit_and_env_win() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("kiln.yaml"), "").unwrap();
        fs::write(tmp.path().join("other.yaml"), "").unwrap();
        let got = discover(&["other.yaml".into()], &kiln_file("kiln.yaml"), tmp.path());
        assert_eq!(got.unwrap(), vec![PathBuf::from("other.yaml")]);
        let got = discover(&[], &kiln_file("other.yaml"), tmp.path());
        assert_eq!(got.unwrap(), vec![PathBuf::from("other.yaml")]);
        let got = discover(&[], &kiln_file(""), tmp.path());
        assert_eq!(got.unwrap(), vec![tmp.path().join("kiln.yaml")]);
        let err = discover(
            &["kiln.yaml".into(), "nope.yaml".into()],
            &FileEnv::default(),
            tmp.path(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "--file nope.yaml: no such file");
        let err = discover(&[], &kiln_file("nope.yaml"), tmp.path()).unwrap_err();
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
            discover(&[], &FileEnv::default(), &deep).unwrap(),
            vec![app.join("compose.yml")]
        );
        fs::write(app.join("docker-compose.override.yaml"), "").unwrap();
        fs::write(app.join("compose.override.yaml"), "").unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), &deep).unwrap(),
            vec![app.join("compose.yml"), app.join("compose.override.yaml")]
        );
        fs::write(app.join("compose.override.yml"), "").unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), &deep).unwrap()[1],
            app.join("compose.override.yml")
        );
        // A kiln.yaml further up the tree wins over a nearer compose file.
        fs::write(tmp.path().join("kiln.yaml"), "images: []").unwrap();
        assert_eq!(
            discover(&[], &FileEnv::default(), &deep).unwrap(),
            vec![tmp.path().join("kiln.yaml")]
        );
        let empty = tempfile::tempdir().unwrap();
        let err = discover(&[], &FileEnv::default(), empty.path()).unwrap_err();
        assert!(
            err.to_string().starts_with("no kiln.yaml or compose file"),
            "{err}"
        );
    }
}

//! Loading the stack the way the command line asked for it: find the
//! file(s), load them (a kiln.yaml or compose files), apply `--set`
//! overrides and `--builder`. The command line loads it once at the start;
//! watch mode loads it again, the same way, each time one of its files
//! changes ([`StackSource::files`]). [`Config::changed_images`] says what a
//! reload changed.

use std::path::{Path, PathBuf};

use super::positions::Positions;
use super::{
    compose, discover, load_stack_with, read_text, BuilderChoice, ComposeOptions, Config,
    ConfigError, DiscoverError, FileEnv, LoadError, Sources,
};

/// Where the stack comes from and what the command line changes in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackSource {
    /// `-f/--file` (repeatable, for compose files).
    pub files: Vec<PathBuf>,
    /// `$KILN_FILE`, `$COMPOSE_FILE` and what goes with them, as they were
    /// at the start.
    pub file_env: FileEnv,
    /// Where relative paths (and discovery) start.
    pub cwd: PathBuf,
    /// `-p`, `--profile`, `--env-file` (compose files only).
    pub compose: ComposeOptions,
    /// `--set IMAGE.FIELD=VALUE`, in order.
    pub sets: Vec<String>,
    /// `--builder`: every image's builder.
    pub builder: Option<BuilderChoice>,
    /// Whether secret and SSH agent sources are checked: a command that
    /// builds nothing leaves them unchecked.
    pub sources: Sources,
}

/// Why the stack could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StackError {
    #[error("{0}")]
    NotFound(#[from] DiscoverError),
    /// Problems in the files (`FILE:LINE:COL: message`, one per line), or
    /// with how kiln was asked.
    #[error("{0}")]
    Invalid(#[from] LoadError),
    /// A `--set` that does not apply (the message names it).
    #[error("{0}")]
    BadOverride(String),
}

/// A loaded stack and its warnings (same format as errors).
#[derive(Debug, Clone)]
pub struct LoadedStack {
    pub config: Config,
    pub warnings: Vec<ConfigError>,
}

impl StackSource {
    /// Discover, load and override. `env` resolves `${VAR}`s.
    pub fn load(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<LoadedStack, StackError> {
        let files = discover(&self.files, &self.file_env, &self.cwd)?;
        let loaded = load_stack_with(&files, &self.compose, env, self.sources)?;
        let mut config = loaded.config;
        config.label = match &config.project {
            Some(name) => format!("compose project {name}"),
            None => from_cwd(&config.path, &self.cwd).display().to_string(),
        };
        for spec in &self.sets {
            config
                .apply_override(spec)
                .map_err(StackError::BadOverride)?;
        }
        if let Some(choice) = self.builder {
            for img in &mut config.images {
                img.builder = choice;
                if choice == BuilderChoice::Legacy && img.needs_buildkit() {
                    return Err(LoadError::Usage(format!(
                        "--builder legacy: image '{}' has build secrets or SSH agents, which only BuildKit can serve; use --builder auto or buildkit",
                        img.name
                    ))
                    .into());
                }
            }
        }
        Ok(LoadedStack {
            config,
            warnings: loaded.warnings,
        })
    }

    /// The files a load reads, absolute: the stack's file(s) and, for
    /// compose files, the files they include and extend and the env files
    /// (`--env-file`, else `.env` beside the first file, which may not
    /// exist yet; those of included projects). `env` resolves `${VAR}`s
    /// (an include's path may use one). None found: empty.
    pub fn files(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<PathBuf> {
        let Ok(found) = discover(&self.files, &self.file_env, &self.cwd) else {
            return Vec::new();
        };
        let is_compose = found
            .first()
            .is_some_and(|first| is_compose(&self.cwd.join(first)));
        if !is_compose {
            return found.iter().map(|f| self.cwd.join(f)).collect();
        }
        let mut files: Vec<PathBuf> = compose::files_read(&found, &self.compose, env)
            .iter()
            .map(|f| self.cwd.join(f))
            .collect();
        if self.compose.env_files.is_empty() {
            let dotenv = self.cwd.join(&found[0]).parent().map(|d| d.join(".env"));
            files.extend(dotenv);
        } else {
            files.extend(self.compose.env_files.iter().map(|f| self.cwd.join(f)));
        }
        let mut seen = std::collections::HashSet::new();
        files.retain(|f| seen.insert(f.clone()));
        files
    }
}

/// `path` as the user names it from `cwd`: as given when relative; when
/// absolute (a discovered file), relative to `cwd` if it is there or in a
/// directory above it (`kiln.yaml`, `../kiln.yaml`), else as it is.
fn from_cwd(path: &Path, cwd: &Path) -> PathBuf {
    if path.is_relative() {
        return path.to_path_buf();
    }
    if let Ok(below) = path.strip_prefix(cwd) {
        return below.to_path_buf();
    }
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return path.to_path_buf();
    };
    match cwd.strip_prefix(dir) {
        Ok(rest) if dir.parent().is_some() => {
            let mut up: PathBuf = rest.components().map(|_| "..").collect();
            up.push(name);
            up
        }
        _ => path.to_path_buf(),
    }
}

/// Whether `path` is a compose file, as `load_stack` tells: by its name,
/// else by its top-level keys.
fn is_compose(path: &std::path::Path) -> bool {
    compose::has_compose_name(path)
        || read_text(path).is_ok_and(|text| {
            Positions::read(&text).is_ok_and(|top| compose::has_compose_keys(&top))
        })
}

impl Config {
    /// The images of `new` that are not in `self` or whose settings differ
    /// (where they are declared in the file does not count), in `new`'s
    /// order.
    pub fn changed_images(&self, new: &Config) -> Vec<String> {
        new.images
            .iter()
            .filter(|img| {
                self.images
                    .iter()
                    .find(|old| old.name == img.name)
                    .is_none_or(|old| {
                        let mut old = old.clone();
                        old.line = img.line;
                        old != **img
                    })
            })
            .map(|img| img.name.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(dir: &std::path::Path, file: &str, yaml: &str) -> StackSource {
        std::fs::write(dir.join(file), yaml).unwrap();
        for name in ["a", "b"] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
            std::fs::write(dir.join(name).join("Dockerfile"), "FROM scratch\n").unwrap();
        }
        StackSource {
            cwd: dir.to_path_buf(),
            ..StackSource::default()
        }
    }

    #[test]
    fn loads_like_the_command_line_with_overrides_and_builder() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = stack(
            dir.path(),
            "kiln.yaml",
            "images:\n  - name: a\n  - name: b\n",
        );
        source.sets = vec!["a.args.X=1".into()];
        source.builder = Some(BuilderChoice::Legacy);
        let loaded = source.load(&|_| None).unwrap();
        let a = &loaded.config.images[0];
        assert_eq!(a.args.get("X").map(String::as_str), Some("1"));
        assert!(loaded
            .config
            .images
            .iter()
            .all(|i| i.builder == BuilderChoice::Legacy));
        assert_eq!(source.files(&|_| None), [dir.path().join("kiln.yaml")]);
    }

    #[test]
    fn a_compose_stack_depends_on_its_files_and_env_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut source = stack(
            dir.path(),
            "compose.yaml",
            "services:\n  a:\n    build: ./a\n",
        );
        std::fs::write(dir.path().join("compose.override.yaml"), "services: {}\n").unwrap();
        let files = source.files(&|_| None);
        assert_eq!(files[0], dir.path().join("compose.yaml"));
        assert_eq!(files.last().unwrap(), &dir.path().join(".env"));
        assert!(source.load(&|_| None).is_ok());
        source.compose.env_files = vec!["prod.env".into()];
        assert_eq!(
            source.files(&|_| None).last().unwrap(),
            &dir.path().join("prod.env")
        );
        // What it includes and extends (with the variables of its path),
        // and the included project's env file.
        source.compose.env_files.clear();
        std::fs::write(
            dir.path().join("compose.yaml"),
            "include: [\"${SUB}/compose.yaml\"]\nservices:\n  a:\n    extends: {file: base.yaml, service: a}\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("base.yaml"),
            "services:\n  a:\n    build: ./a\n",
        )
        .unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/compose.yaml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join("sub/.env"), "").unwrap();
        let env = |k: &str| (k == "SUB").then(|| "sub".to_string());
        assert!(source.load(&env).is_ok());
        let files = source.files(&env);
        for f in [
            "compose.yaml",
            "sub/compose.yaml",
            "sub/.env",
            "base.yaml",
            "compose.override.yaml",
            ".env",
        ] {
            assert!(files.contains(&dir.path().join(f)), "{f}: {files:?}");
        }
    }

    #[test]
    fn the_label_names_the_file_from_the_current_directory_or_the_compose_project() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("deep/er")).unwrap();
        let mut source = stack(root, "kiln.yaml", "images:\n  - name: a\n");
        assert_eq!(source.load(&|_| None).unwrap().config.project, None);
        assert_eq!(source.load(&|_| None).unwrap().config.label, "kiln.yaml");
        source.cwd = root.join("deep/er");
        assert_eq!(
            source.load(&|_| None).unwrap().config.label,
            "../../kiln.yaml",
            "found in a parent directory"
        );
        // Given relative (to the process's directory, the cwd): as given.
        assert_eq!(
            from_cwd(Path::new("./demo/kiln.yaml"), root),
            Path::new("./demo/kiln.yaml")
        );
        assert_eq!(
            from_cwd(Path::new("/srv/stack/kiln.yaml"), Path::new("/home/me")),
            Path::new("/srv/stack/kiln.yaml")
        );
        assert_eq!(
            from_cwd(Path::new("/kiln.yaml"), Path::new("/home")),
            Path::new("/kiln.yaml")
        );

        // (Not below the kiln.yaml, which discovery would find first.)
        let dir = tempfile::tempdir().unwrap();
        let proj = dir.path().join("My Shop");
        std::fs::create_dir_all(&proj).unwrap();
        let mut source = stack(&proj, "compose.yaml", "services:\n  a:\n    build: ./a\n");
        let label = |s: &StackSource, env: &dyn Fn(&str) -> Option<String>| {
            s.load(env).unwrap().config.label
        };
        assert_eq!(label(&source, &|_| None), "compose project myshop");
        let env = |k: &str| (k == "COMPOSE_PROJECT_NAME").then(|| "from-env".to_string());
        assert_eq!(label(&source, &env), "compose project from-env");
        source.compose.project_name = Some("flag".into());
        assert_eq!(label(&source, &env), "compose project flag");
        source.compose.project_name = None;
        std::fs::write(
            proj.join("compose.yaml"),
            "name: Named\nservices:\n  a:\n    build: ./a\n",
        )
        .unwrap();
        assert_eq!(label(&source, &|_| None), "compose project named");
    }

    #[test]
    fn errors_say_where() {
        let dir = tempfile::tempdir().unwrap();
        let source = stack(
            dir.path(),
            "kiln.yaml",
            "images:\n  - name: a\n    contxt: a\n",
        );
        let err = source.load(&|_| None).unwrap_err();
        assert!(matches!(err, StackError::Invalid(_)));
        assert!(err.to_string().contains("kiln.yaml:3:5: "), "{err}");
        let mut source = stack(dir.path(), "kiln.yaml", "images:\n  - name: a\n");
        source.sets = vec!["nope.tags=x".into()];
        let err = source.load(&|_| None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--set nope.tags: unknown image 'nope'"),
            "{err}"
        );
    }

    #[test]
    fn changed_images_ignores_where_an_entry_moved() {
        let dir = tempfile::tempdir().unwrap();
        let source = stack(
            dir.path(),
            "kiln.yaml",
            "images:\n  - name: a\n  - name: b\n",
        );
        let old = source.load(&|_| None).unwrap().config;
        let source = stack(
            dir.path(),
            "kiln.yaml",
            "# moved down a line\nimages:\n  - name: a\n  - name: b\n    args: {X: '2'}\n  - name: c\n    context: a\n",
        );
        let new = source.load(&|_| None).unwrap().config;
        assert_eq!(old.changed_images(&new), ["b", "c"]);
        assert!(new.changed_images(&new).is_empty());
    }
}

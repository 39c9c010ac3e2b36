//! Loading compose files through the public API in tests: an environment
//! of the test's own, the errors of a load that must fail, and a scratch
//! project directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kiln::config::{load_stack, ComposeOptions, LoadError, Loaded};

/// An environment holding only `vars` (the process's is never read).
pub fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

pub fn load_with(
    files: &[PathBuf],
    opts: &ComposeOptions,
    vars: &[(&str, &str)],
) -> Result<Loaded, LoadError> {
    load_stack(files, opts, &env_of(vars))
}

/// The errors of a load that must fail, one `FILE:LINE:COL: message` per
/// entry, file names relative to `base`.
pub fn errors(result: Result<Loaded, LoadError>, base: &Path) -> Vec<String> {
    match result {
        Ok(_) => panic!("expected errors"),
        Err(LoadError::Usage(m)) => vec![format!("usage: {m}")],
        Err(LoadError::Config(e)) => e
            .errors
            .iter()
            .map(|e| {
                let file = e.file.strip_prefix(base).unwrap_or(&e.file);
                format!("{}:{}:{}: {}", file.display(), e.line, e.col, e.message)
            })
            .collect(),
    }
}

/// A compose project in a temp dir (`proj/`) with `app/Dockerfile`.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("proj/app")).unwrap();
        std::fs::write(dir.path().join("proj/app/Dockerfile"), "FROM scratch\n").unwrap();
        Scratch { dir }
    }

    /// The project directory.
    pub fn proj(&self) -> PathBuf {
        self.dir.path().join("proj")
    }

    /// Writes `rel` under the project directory (making its directories).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.proj().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    pub fn errors(&self, files: &[(&str, &str)]) -> Vec<String> {
        self.errors_with(files, &ComposeOptions::default())
    }

    pub fn errors_with(&self, files: &[(&str, &str)], opts: &ComposeOptions) -> Vec<String> {
        let paths: Vec<PathBuf> = files.iter().map(|(n, t)| self.write(n, t)).collect();
        errors(load_with(&paths, opts, &[]), &self.proj())
    }
}

/// kiln run in `stack`'s directory (finding its compose file), with an
/// empty docker config.
pub fn kiln_compose(stack: &super::Stack, args: &[&str]) -> std::process::Output {
    kiln_compose_cmd(stack, args).output().unwrap()
}

/// The command [`kiln_compose`] runs, to add to.
pub fn kiln_compose_cmd(stack: &super::Stack, args: &[&str]) -> std::process::Command {
    let docker_config = stack.home.path().join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    std::fs::write(docker_config.join("config.json"), "{}").unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(stack.dir.path())
        .args(args)
        .env("DOCKER_CONFIG", &docker_config)
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES");
    super::isolate(&mut cmd, stack.home.path());
    cmd
}

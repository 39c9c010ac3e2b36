//! Compose projects spread over several files the way real projects
//! spread them: `include` (short and long syntax, with its own
//! directory and env file), `extends` (in the same file and from another
//! file) and `COMPOSE_FILE`. Expectations follow compose-go's loader (the
//! `include` and `extends` of compose-spec/compose-go); `docker-compose`
//! 1.29 on the test machine knows `extends` but not `include` and agrees
//! on the merged `extends` values. Problems are located in the file they
//! are written in. The last test builds such a project on the real
//! daemon.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::compose::{kiln_compose, load_with, Scratch};
use kiln::config::*;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn image<'c>(config: &'c Config, name: &str) -> &'c ImageConfig {
    &config.images[config
        .index_of(name)
        .unwrap_or_else(|| panic!("no image {name}"))]
}

fn context(img: &ImageConfig) -> PathBuf {
    match &img.source {
        Source::Build {
            context: ContextSource::Dir(d),
            ..
        } => d.clone(),
        other => panic!("{}: not a directory build: {other:?}", img.name),
    }
}

fn dockerfile(img: &ImageConfig) -> &str {
    match &img.source {
        Source::Build {
            dockerfile: Dockerfile::Path(p),
            ..
        } => p,
        other => panic!("{}: no Dockerfile path: {other:?}", img.name),
    }
}

/// `dir`'s path with `.` components dropped, to compare contexts.
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A project that includes two others: `lib/` in the short syntax (its
/// own `.env`), `tools/` in the long one (two files, a project directory
/// and an env file of its own).
fn included_project(s: &Scratch) -> PathBuf {
    s.write(
        "compose.yaml",
        "\
include:
  - lib/compose.yaml
  - path: [tools/compose.yaml, tools/compose.local.yaml]
    project_directory: tools
    env_file: tools/tools.env
services:
  app:
    build: ./app
  api:
    build:
      args:
        LOCAL: \"1\"
",
    );
    s.write(
        "lib/compose.yaml",
        "\
services:
  api:
    build:
      context: api
      args:
        GREETING: ${GREETING}
        LOCAL: \"0\"
  worker:
    build:
      dockerfile: worker.Dockerfile
",
    );
    s.write("lib/.env", "GREETING=from lib/.env\n");
    s.write("lib/api/Dockerfile", "FROM scratch\n");
    s.write("lib/worker.Dockerfile", "FROM scratch\n");
    s.write(
        "tools/compose.yaml",
        "services:\n  tool:\n    build: .\n    image: tools:${TOOL_TAG}\n",
    );
    s.write(
        "tools/compose.local.yaml",
        "services:\n  tool:\n    build:\n      args: {X: \"1\"}\n",
    );
    s.write("tools/tools.env", "TOOL_TAG=2\n");
    s.write("tools/Dockerfile", "FROM scratch\n");
    s.proj().join("compose.yaml")
}

#[test]
fn include_short_and_long_syntax() {
    let s = Scratch::new();
    let file = included_project(&s);
    let proj = s.proj();
    let loaded = load_with(std::slice::from_ref(&file), &ComposeOptions::default(), &[]).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = &loaded.config;
    let names: Vec<&str> = c.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["app", "api", "worker", "tool"]);
    // Each included service builds in its own project's directory.
    assert_eq!(clean(&context(image(c, "app"))), proj.join("app"));
    assert_eq!(clean(&context(image(c, "api"))), proj.join("lib/api"));
    let worker = image(c, "worker");
    assert_eq!(clean(&context(worker)), proj.join("lib"));
    assert_eq!(dockerfile(worker), "worker.Dockerfile");
    let tool = image(c, "tool");
    assert_eq!(clean(&context(tool)), proj.join("tools"));
    // Variables from the include's env file; its second file overrides.
    assert_eq!(tool.tags, ["tools:2"]);
    assert_eq!(tool.args, map(&[("X", "1")]));
    // The including file's `api` is merged over the included one; the
    // included project's .env fills in GREETING.
    let api = image(c, "api");
    assert_eq!(
        api.args,
        map(&[("GREETING", "from lib/.env"), ("LOCAL", "1")])
    );
    assert_eq!(api.tags, ["proj-api"]);
    // The environment wins over the included project's .env.
    let c = load_with(
        &[file],
        &ComposeOptions::default(),
        &[("GREETING", "from the environment")],
    )
    .unwrap()
    .config;
    assert_eq!(image(&c, "api").args["GREETING"], "from the environment");
}

#[test]
fn include_mistakes_are_located_in_their_file() {
    let s = Scratch::new();
    s.write(
        "lib/compose.yaml",
        "include: [../compose.yaml]\nservics: {}\nservices:\n  lib:\n    build:\n      context: .\n      dockerfil: x\n",
    );
    s.write("lib/Dockerfile", "FROM scratch\n");
    let text = "\
include:
  - lib/compose.yaml
  - missing.yaml
  - path: lib/compose.yaml
    env_file: nope.env
  - pth: x.yaml
services:
  app:
    build: ./app
";
    assert_eq!(
        s.errors(&[("compose.yaml", text)]),
        [
            "compose.yaml:3:5: no such file: missing.yaml"
                .replace("missing.yaml", &s.proj().join("missing.yaml").display().to_string()),
            "compose.yaml:5:15: no such env file: nope.env"
                .replace("nope.env", &s.proj().join("nope.env").display().to_string()),
            "compose.yaml:6:5: unknown include key 'pth' — did you mean 'path'?".to_string(),
            "compose.yaml:6:5: an include needs a 'path': the file to include".to_string(),
            format!(
                "lib/compose.yaml:1:11: include cycle: {0}/compose.yaml includes {0}/lib/compose.yaml includes {0}/compose.yaml",
                s.proj().display()
            ),
            "lib/compose.yaml:2:1: unknown top-level key 'servics' — did you mean 'services'?"
                .to_string(),
            "lib/compose.yaml:7:7: unknown build key 'dockerfil' — did you mean 'dockerfile'?"
                .to_string(),
        ]
    );
}

/// Services to extend, in `common/`: a context relative to that
/// directory, args, a kiln setting, and one extending another.
const BASE_YAML: &str = "\
services:
  base:
    build:
      context: ../app
      args:
        ROLE: base
        SHARED: from-base
    x-kiln: {timeout: 5m}
  root:
    extends: base
    labels: [unused]
";

/// `extends` in the same file (also of a service that extends another)
/// and from another file, whose context is relative to that file; build
/// args merged by key, the extending service's last. `docker-compose
/// config` (1.29) gives the same args and contexts.
#[test]
fn extends_same_file_and_another_file() {
    let s = Scratch::new();
    s.write("common/base.yaml", BASE_YAML);
    let file = s.write(
        "compose.yaml",
        "\
services:
  app:
    extends:
      file: common/base.yaml
      service: root
    build:
      args:
        ROLE: app
  worker:
    extends: app
    build:
      dockerfile: Dockerfile
      args: [EXTRA=1]
    x-kiln: {timeout: 7m}
",
    );
    let c = load_with(&[file], &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    let app = image(&c, "app");
    assert_eq!(clean(&context(app)), s.proj().join("app"));
    assert_eq!(app.args, map(&[("ROLE", "app"), ("SHARED", "from-base")]));
    assert_eq!(app.timeout, std::time::Duration::from_secs(300));
    let worker = image(&c, "worker");
    assert_eq!(clean(&context(worker)), s.proj().join("app"));
    assert_eq!(
        worker.args,
        map(&[("EXTRA", "1"), ("ROLE", "app"), ("SHARED", "from-base")])
    );
    assert_eq!(worker.timeout, std::time::Duration::from_secs(420));
    assert_eq!(worker.tags, ["proj-worker"]);
}

#[test]
fn extends_mistakes_are_located() {
    let s = Scratch::new();
    s.write(
        "other.yaml",
        "services:\n  base:\n    build:\n      contxt: x\n",
    );
    let text = "\
services:
  a:
    extends: b
  b:
    extends: a
  c:
    extends: {service: nope}
  d:
    extends: {service: base, file: other.yaml}
  e:
    extends: {file: other.yaml}
  f:
    extends: {service: base, file: missing.yaml}
  g:
    build: ./app
";
    let errs = s.errors(&[("compose.yaml", text)]);
    let proj = s.proj().display().to_string();
    assert_eq!(
        errs,
        [
            "compose.yaml:3:5: extends cycle: a extends b extends a".to_string(),
            format!("compose.yaml:7:24: cannot extend 'nope': {proj}/compose.yaml has no service of that name"),
            "compose.yaml:11:14: 'extends' needs a 'service': the service to extend".to_string(),
            format!("compose.yaml:13:36: no such file: {proj}/missing.yaml"),
            "other.yaml:4:7: unknown build key 'contxt' — did you mean 'context'?".to_string(),
            // (d's context is then the project's directory, without one.)
            "other.yaml:4:7: Dockerfile not found: ./Dockerfile".to_string(),
        ]
    );
}

/// `COMPOSE_FILE` names the files (relative to the current directory),
/// separated by `COMPOSE_PATH_SEPARATOR`; also from `.env`.
#[test]
fn compose_file_names_the_files() {
    let s = Scratch::new();
    s.write("stack/base.yml", "services:\n  app:\n    build: ../app\n");
    s.write(
        "stack/dev.yml",
        "services:\n  app:\n    build:\n      args: {MODE: dev}\n  tool:\n    image: busybox\n",
    );
    let check = |vars: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
        cmd.current_dir(s.proj())
            .arg("check")
            .env_remove("KILN_FILE")
            .env_remove("COMPOSE_FILE")
            .env_remove("COMPOSE_PATH_SEPARATOR")
            .env_remove("COMPOSE_PROJECT_NAME");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    };
    let out = check(&[("COMPOSE_FILE", "stack/base.yml:stack/dev.yml")]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    assert!(text.starts_with("stack/base.yml: 2 images"), "{text}");
    assert!(
        text.contains("app   stack-app") && text.contains("tool  prebuilt busybox"),
        "{text}"
    );
    let out = check(&[
        ("COMPOSE_FILE", "stack/base.yml;stack/nope.yml"),
        ("COMPOSE_PATH_SEPARATOR", ";"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::stderr(&out).contains("COMPOSE_FILE names stack/nope.yml: no such file"),
        "{}",
        common::stderr(&out)
    );
    s.write(".env", "COMPOSE_FILE=stack/base.yml\n");
    let out = check(&[]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).starts_with("stack/base.yml: 1 image"),
        "{}",
        common::stdout(&out)
    );
}

/// An `include` + `extends` project built on the real daemon: the
/// included service's build context is its own directory (a file only
/// there reaches its image) and its `.env` fills its args; the extending
/// service's image has the args merged from both definitions.
#[test]
fn include_and_extends_project_builds_on_the_daemon() {
    require_docker!();
    let stack = common::Stack::new();
    let p = &stack.prefix;
    stack.write(
        "compose.yaml",
        &format!(
            "\
include:
  - lib/compose.yaml
services:
  app:
    extends:
      file: common/base.yaml
      service: base
    image: {p}-app
    build:
      args:
        ROLE: app
"
        ),
    );
    stack.write("common/base.yaml", BASE_YAML);
    stack.busybox_context(
        "app",
        "ARG ROLE\nARG SHARED\nRUN echo \"$ROLE $SHARED\" > /info\n",
    );
    stack.write(
        "lib/compose.yaml",
        &format!(
            "services:\n  lib:\n    image: {p}-lib\n    build:\n      args:\n        FROM_ENV: ${{LIB_VAR}}\n"
        ),
    );
    stack.write("lib/.env", "LIB_VAR=from-lib-env\n");
    stack.busybox_context(
        "lib",
        "COPY marker.txt /marker\nARG FROM_ENV\nRUN echo \"$FROM_ENV\" > /from-env\n",
    );
    stack.write("lib/marker.txt", "only in lib/\n");
    let _cleanup = common::RemoveImages(vec![format!("{p}-app"), format!("{p}-lib")]);
    let out = kiln_compose(&stack, &["build", "--json"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let read = |image: &str, path: &str| {
        let out = common::docker(&["run", "--rm", image, "cat", path]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::stdout(&out)
    };
    assert_eq!(read(&format!("{p}-app"), "/info"), "app from-base\n");
    assert_eq!(read(&format!("{p}-lib"), "/marker"), "only in lib/\n");
    assert_eq!(read(&format!("{p}-lib"), "/from-env"), "from-lib-env\n");
}

//! Compose files as stacks: real compose files (the repository's demo
//! converted to compose, and `tests/fixtures/compose/shop` with an override
//! file, a `.env`, profiles, list-form args, an inline Dockerfile and
//! services sharing builds) loaded into kiln's `Config`, checked against
//! expectations written by hand from the compose specification (and, where
//! compose v1 understands the file, `docker-compose config`); located
//! errors; and the shop built on the real daemon.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;

use common::compose::{env_of, errors, kiln_compose, load_with, Scratch};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln::config::*;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn shop_dir() -> PathBuf {
    fixture("tests/fixtures/compose/shop")
}

fn shop_files() -> Vec<PathBuf> {
    vec![
        shop_dir().join("compose.yaml"),
        shop_dir().join("compose.override.yaml"),
    ]
}

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

fn build_source(dir: &str, dockerfile: &str) -> Source {
    Source::Build {
        context: ContextSource::Dir(shop_dir().join(dir)),
        dockerfile: Dockerfile::Path(dockerfile.to_string()),
    }
}

// ---- the shop: override file, .env, list-form args, profiles ----

#[test]
fn shop_is_discovered_with_its_override_file() {
    let found = discover(&[], &FileEnv::default(), &shop_dir().join("web")).unwrap();
    assert_eq!(found, shop_files());
}

/// What `docker compose config` shows for the shop (compose v1's
/// `docker-compose config` agrees on every merged value it understands:
/// it drops the unset list-form arg as '' instead, and knows neither
/// `build.tags`, `dockerfile_inline` nor `!reset`), and the image names
/// the current compose CLI gives (`<project>-<service>`).
#[test]
fn shop_merges_like_compose() {
    let loaded = load_with(&shop_files(), &ComposeOptions::default(), &[]).unwrap();
    let c = &loaded.config;
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(c.path, shop_dir().join("compose.yaml"));
    assert_eq!(c.dir, shop_dir());
    assert_eq!(c.jobs, 2);
    let names: Vec<&str> = c.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["base", "web", "worker", "api", "shell", "cache"]);

    let base = image(c, "base");
    assert_eq!(base.source, build_source("./base", "Dockerfile"));
    assert_eq!(base.tags, ["shop-base"]);
    assert_eq!(base.stall_after, Duration::from_secs(45));
    assert_eq!(base.timeout, Duration::from_secs(30 * 60));

    let web = image(c, "web");
    assert_eq!(web.source, build_source("./web", "Dockerfile"));
    assert_eq!(web.tags, ["shop-web"]);
    // The override's `MODE: prod` wins over `MODE=dev`; VERSION comes from
    // .env; an arg named without a value and unset is left out.
    assert_eq!(
        web.args,
        map(&[
            ("BASE_IMAGE", "shop-base"),
            ("MODE", "prod"),
            ("VERSION", "1.2.3")
        ])
    );
    assert_eq!(
        web.labels,
        map(&[("org.shop.env", "ci"), ("org.shop.part", "web")])
    );
    // depends_on [base, cache]: cache is image-only, so only base orders
    // the build.
    assert_eq!(web.depends_on, ["base"]);

    let worker = image(c, "worker");
    assert_eq!(worker.source, build_source("./web", "Dockerfile"));
    assert_eq!(worker.tags, ["shop-worker"]);
    assert_eq!(
        worker.args,
        map(&[
            ("BASE_IMAGE", "shop-base"),
            ("MODE", "worker"),
            ("VERSION", "1.2.3")
        ])
    );
    assert_eq!(worker.depends_on, ["web"]);
    assert_eq!(worker.inferred_depends_on, ["base"]);

    let api = image(c, "api");
    assert_eq!(api.tags, ["shop/api:2.0", "shop/api:edge"]);
    assert_eq!(api.target.as_deref(), Some("debug"));
    assert_eq!(api.timeout, Duration::from_secs(600));
    assert_eq!(api.stall_after, Duration::from_secs(45));
    assert!(api.push);
    assert_eq!(api.inferred_depends_on, ["base"]);

    let shell = image(c, "shell");
    assert_eq!(
        shell.source,
        Source::Prebuilt {
            image: "shop-base".into()
        }
    );
    assert_eq!(shell.depends_on, ["base"]);
    assert!(!shell.pull && !shell.pull_if_missing);

    let cache = image(c, "cache");
    assert_eq!(
        cache.source,
        Source::Prebuilt {
            image: "redis:7".into()
        }
    );
    assert!(!cache.pull && !cache.pull_if_missing, "pull_policy: never");
    assert!(!image(c, "web").push);
}

#[test]
fn profiles_enable_services_and_are_checked() {
    let with = |opts: &ComposeOptions, vars: &[(&str, &str)]| {
        let c = load_with(&shop_files(), opts, vars).unwrap().config;
        c.images.iter().map(|i| i.name.clone()).collect::<Vec<_>>()
    };
    let debug = ComposeOptions {
        profiles: vec!["debug".into()],
        ..Default::default()
    };
    assert!(with(&debug, &[]).contains(&"debug".to_string()));
    assert!(with(
        &ComposeOptions::default(),
        &[("COMPOSE_PROFILES", "x, debug")]
    )
    .contains(&"debug".to_string()));
    let all = ComposeOptions {
        profiles: vec!["*".into()],
        ..Default::default()
    };
    assert!(with(&all, &[]).contains(&"debug".to_string()));

    let c = load_with(&shop_files(), &debug, &[]).unwrap().config;
    let d = image(&c, "debug");
    assert_eq!(d.tags, ["shop-debug"]);
    assert_eq!(
        d.source,
        Source::Build {
            context: ContextSource::Dir(shop_dir().join("./web")),
            dockerfile: Dockerfile::Inline(
                "ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN echo \"debug tools for $HOSTNAME\" > /debug-info\n"
                    .into()
            ),
        }
    );
    assert_eq!(d.inferred_depends_on, ["base"]);

    let typo = ComposeOptions {
        profiles: vec!["debgu".into()],
        ..Default::default()
    };
    assert_eq!(
        errors(load_with(&shop_files(), &typo, &[]), &shop_dir()),
        ["usage: --profile debgu: no service has this profile (profiles: debug) — did you mean 'debug'?"]
    );
}

#[test]
fn project_name_comes_from_flag_env_or_file() {
    let tags = |opts: &ComposeOptions, vars: &[(&str, &str)]| {
        let c = load_with(&shop_files(), opts, vars).unwrap().config;
        (
            image(&c, "base").tags.clone(),
            image(&c, "api").tags.clone(),
        )
    };
    let flag = ComposeOptions {
        project_name: Some("store".into()),
        ..Default::default()
    };
    // ${COMPOSE_PROJECT_NAME} in the file is the chosen name.
    assert_eq!(
        tags(&flag, &[("COMPOSE_PROJECT_NAME", "ignored")]),
        (
            vec!["store-base".to_string()],
            vec!["store/api:2.0".to_string(), "store/api:edge".to_string()]
        )
    );
    assert_eq!(
        tags(
            &ComposeOptions::default(),
            &[("COMPOSE_PROJECT_NAME", "fromenv")]
        )
        .0,
        ["fromenv-base"]
    );
    // The environment wins over .env (API_TAG=2.0 there).
    assert_eq!(
        tags(&ComposeOptions::default(), &[("API_TAG", "3.1")]).1,
        ["shop/api:3.1", "shop/api:edge"]
    );
    let bad = ComposeOptions {
        project_name: Some("My Shop".into()),
        ..Default::default()
    };
    let e = errors(load_with(&shop_files(), &bad, &[]), &shop_dir());
    assert!(
        e[0].starts_with("usage: -p/--project-name: invalid project name \"My Shop\""),
        "{e:?}"
    );
}

#[test]
fn top_level_name_is_normalised_and_env_file_replaces_dotenv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("Some Dir");
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("app/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::write(dir.join(".env"), "TAG=from-dotenv\n").unwrap();
    std::fs::write(dir.join("ci.env"), "TAG=from-ci\n").unwrap();
    let file = dir.join("docker-compose.yml");
    std::fs::write(
        &file,
        "name: My_Shop.v2\nservices:\n  app:\n    build: ./app\n    image: app:${TAG}\n",
    )
    .unwrap();
    let files = vec![file.clone()];
    let c = load_with(&files, &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    assert_eq!(image(&c, "app").tags, ["app:from-dotenv"]);
    let ci = ComposeOptions {
        env_files: vec![dir.join("ci.env")],
        ..Default::default()
    };
    assert_eq!(
        image(&load_with(&files, &ci, &[]).unwrap().config, "app").tags,
        ["app:from-ci"]
    );
    // Without image:, the normalised name of the file (not the directory).
    std::fs::write(
        &file,
        "name: My_Shop.v2\nservices:\n  app:\n    build: ./app\n",
    )
    .unwrap();
    let c = load_with(&files, &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    assert_eq!(image(&c, "app").tags, ["my_shopv2-app"]);
    // Without name:, the directory's.
    std::fs::write(&file, "services:\n  app:\n    build: ./app\n").unwrap();
    let c = load_with(&files, &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    assert_eq!(image(&c, "app").tags, ["somedir-app"]);

    let missing = ComposeOptions {
        env_files: vec![dir.join("nope.env")],
        ..Default::default()
    };
    let e = errors(load_with(&files, &missing, &[]), &dir);
    assert!(
        e[0].starts_with("usage: --env-file ") && e[0].ends_with("nope.env: no such file"),
        "{e:?}"
    );
}

// ---- the demo, converted ----

/// `assets/demo/compose.yaml` describes the same stack as
/// `assets/demo/kiln.yaml`: every image is equal but for its line.
#[test]
fn demo_compose_equals_demo_kiln_yaml() {
    let env = env_of(&[]);
    let kiln = load(&fixture("assets/demo/kiln.yaml"), &env)
        .unwrap()
        .config;
    let compose = load_stack(
        &[fixture("assets/demo/compose.yaml")],
        &ComposeOptions::default(),
        &env,
    )
    .unwrap()
    .config;
    assert_eq!(kiln.jobs, compose.jobs);
    assert_eq!(kiln.images.len(), compose.images.len());
    for (k, c) in kiln.images.iter().zip(&compose.images) {
        let mut c = c.clone();
        c.line = k.line;
        assert_eq!(k, &c);
    }
}

#[test]
fn kiln_check_prints_the_plan_for_compose_files() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .current_dir(shop_dir())
        .args(["check", "--profile", "debug"])
        .env_remove("KILN_FILE")
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("API_TAG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", common::stderr(&out));
    let expected = format!(
        "{}: 7 images in 3 waves (up to 2 at once)
wave 1:
  base    shop-base
  cache   prebuilt redis:7
wave 2:
  web     shop-web                     after base
  api     shop/api:2.0, shop/api:edge  after base (from Dockerfile)
  debug   shop-debug                   after base (from Dockerfile)
  shell   prebuilt shop-base           after base
wave 3:
  worker  shop-worker                  after web, base (from Dockerfile)
",
        shop_dir().join("compose.yaml").display()
    );
    // Then the engine the daemon is (or that it cannot be reached).
    let printed = common::stdout(&out);
    let (plan, engine) = printed
        .trim_end()
        .rsplit_once('\n')
        .expect("the plan, then the engine");
    assert_eq!(format!("{plan}\n"), expected);
    assert!(engine.starts_with("engine: "), "{engine}");
}

// ---- located errors ----

#[test]
fn unknown_keys_are_located_with_suggestions() {
    let s = Scratch::new();
    let text = "\
servics: {}
services:
  app:
    biuld: ./app
    image: x
    x-anything: ok
  web:
    build:
      context: ./app
      dockerfil: Dockerfile
      x-note: fine
    x-kiln:
      stall: 1m
      jobs: 3
    ports: [\"80:80\"]
    volumes: [\"data:/data\"]
x-kiln:
  job: 2
x-other: {anything: goes}
volumes:
  data: {}
";
    assert_eq!(
        s.errors(&[("compose.yaml", text)]),
        [
            "compose.yaml:1:1: unknown top-level key 'servics' — did you mean 'services'?",
            "compose.yaml:4:5: unknown service key 'biuld' — did you mean 'build'?",
            "compose.yaml:10:7: unknown build key 'dockerfil' — did you mean 'dockerfile'?",
            "compose.yaml:13:7: unknown x-kiln field 'stall'",
            "compose.yaml:14:7: 'jobs' is for the whole stack: set it in the top-level x-kiln",
            "compose.yaml:18:3: unknown x-kiln field 'job' — did you mean 'jobs'?",
        ]
    );
}

#[test]
fn build_mistakes_are_located() {
    let s = Scratch::new();
    let text = "\
services:
  one:
    build:
      context: ./app
      dockerfile: Dockerfile
      dockerfile_inline: FROM scratch
  two:
    build:
      context: ./app
      additional_contexts:
        extra: ../other
  three:
    build:
      context: ./missing
      args: 42
      no_cache: maybe
      shm_size: lots
  four:
    command: [sh]
  \"fi ve\":
    image: five
  six:
    build: ./app
    depends_on: [one, sevn]
  seven:
    image: ${NEEDED:?set NEEDED to the image}
";
    assert_eq!(
        s.errors(&[("compose.yaml", text)]),
        [
            "compose.yaml:6:7: 'dockerfile' and 'dockerfile_inline' cannot both be set",
            "compose.yaml:10:7: 'additional_contexts' is not supported: kiln builds through the Docker Engine's /build API, which has no way to pass named build contexts (that takes BuildKit's own API, as docker buildx uses); remove it or build this service with docker buildx",
            "compose.yaml:14:16: context directory ./missing does not exist",
            "compose.yaml:15:13: 'args' must be a mapping or a list of KEY=VALUE strings, not a number",
            "compose.yaml:16:17: 'no_cache' must be true or false",
            "compose.yaml:17:17: shm_size: invalid size 'lots' (use e.g. 64m, 1g, 512k or a number of bytes)",
            "compose.yaml:18:3: service 'four' has neither 'image' nor 'build'",
            "compose.yaml:20:3: service name 'fi ve' is not a valid compose service name: use letters, digits, '.', '_' and '-'",
            "compose.yaml:24:23: depends_on: unknown service 'sevn' — did you mean 'seven'?",
            "compose.yaml:26:12: NEEDED: set NEEDED to the image",
        ]
    );
}

#[test]
fn errors_in_an_override_file_point_at_it() {
    let s = Scratch::new();
    let base =
        "services:\n  app:\n    build:\n      context: ./app\n    deploy:\n      replicas: 2\n";
    let over = "# override\nservices:\n  app:\n    build:\n      target: [x]\n      nocache: true\n    deploy: [oops]\n";
    assert_eq!(
        s.errors(&[("compose.yaml", base), ("compose.override.yaml", over)]),
        [
            "compose.override.yaml:5:15: 'target' must be a string, not a list",
            "compose.override.yaml:6:7: unknown build key 'nocache' — did you mean 'no_cache'?",
            "compose.override.yaml:7:13: cannot override 'services.app.deploy' (a mapping at compose.yaml:6) with a list"
                .replace("compose.yaml", &s.dir.path().join("proj/compose.yaml").display().to_string())
                .as_str(),
        ]
    );
}

#[test]
fn profile_and_env_file_errors() {
    let s = Scratch::new();
    let text = "\
services:
  app:
    build: ./app
    depends_on:
      tool: {condition: service_started}
      extra: {condition: service_started, required: false}
  tool:
    profiles: [tools]
    build: ./app
  extra:
    profiles: [extras]
    build: ./app
";
    assert_eq!(
        s.errors(&[("compose.yaml", text)]),
        ["compose.yaml:5:7: 'app' depends on 'tool', which is not enabled; enable it with --profile tools"]
    );
    let only_profiled = "services:\n  tool:\n    profiles: [tools]\n    build: ./app\n";
    assert_eq!(
        s.errors(&[("compose.yaml", only_profiled)]),
        ["compose.yaml:1:1: no service is enabled: every service has profiles (tools); enable one with --profile"]
    );
    s.write(".env", "OK=1\nexport BAD KEY=2\n");
    assert_eq!(
        s.errors(&[("compose.yaml", "services:\n  app:\n    build: ./app\n")]),
        [".env:2:1: key \"BAD KEY\" cannot contain a space"]
    );
}

#[test]
fn kiln_yaml_refuses_compose_options() {
    let s = Scratch::new();
    let kiln = s.write("kiln.yaml", "images:\n  - name: app\n");
    let opts = ComposeOptions {
        profiles: vec!["x".into()],
        ..Default::default()
    };
    let e = errors(
        load_with(std::slice::from_ref(&kiln), &opts, &[]),
        s.dir.path(),
    );
    assert!(
        e[0].starts_with(
            "usage: -p/--project-name, --profile and --env-file apply to compose files"
        ),
        "{e:?}"
    );
    let e = errors(
        load_with(&[kiln.clone(), kiln], &ComposeOptions::default(), &[]),
        s.dir.path(),
    );
    assert!(
        e[0].starts_with("usage: several -f files are merged only for compose files"),
        "{e:?}"
    );
}

#[test]
fn the_binary_reports_compose_errors_with_exit_code_2() {
    let s = Scratch::new();
    let file = s.write(
        "stack.yml",
        "services:\n  app:\n    build:\n      context: ./app\n      tagz: [a]\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("-f")
        .arg(&file)
        .arg("check")
        .env_remove("KILN_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        common::stderr(&out),
        format!(
            "{}:5:7: unknown build key 'tagz' — did you mean 'tags'?\n",
            file.display()
        )
    );
}

#[test]
fn values_from_the_file_reach_the_terminal_sanitised() {
    let s = Scratch::new();
    let file = s.write(
        "compose.yaml",
        "services:\n  app:\n    image: \"app\\e]0;title\\a:${KILN_COMPOSE_TEST_UNSET}1\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("-f")
        .arg(&file)
        .arg("check")
        .env_remove("KILN_FILE")
        .env_remove("KILN_COMPOSE_TEST_UNSET")
        .output()
        .unwrap();
    // No reference holds an escape: the mistake is named, the escape shown.
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    for text in [common::stdout(&out), common::stderr(&out)] {
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
    }
    assert!(
        common::stderr(&out).contains("invalid image reference 'app\\e]0;title\\u{7}:1'"),
        "{}",
        common::stderr(&out)
    );
}

// ---- the real daemon ----

/// The shop built headless on the real daemon under a unique project
/// name: every image the compose CLI would name exists, build args merged
/// from the override file and .env reached the builds, and the service
/// that shares base's image was not pulled.
#[test]
fn shop_builds_on_the_daemon_under_compose_names() {
    require_docker!();
    let stack = common::Stack::new();
    copy_dir(&shop_dir(), stack.dir.path());
    std::fs::copy(common::BUSYBOX, stack.path("base/busybox")).expect("copy busybox");
    let project = stack.prefix.clone();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(stack.dir.path())
        .args(["-p", &project, "--profile", "debug", "build", "--json"])
        .args(["base", "web", "worker", "api", "debug", "shell"])
        // x-kiln in the override file pushes api; not to Docker Hub here.
        .args(["--set", "api.push=false"])
        .env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_PROFILES")
        .env_remove("API_TAG")
        .env_remove("VERSION");
    common::isolate(&mut cmd, stack.home.path());
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    let events = common::events(&out);
    let summary = common::of_type(&events, "summary", None)[0];
    let succeeded: Vec<&str> = summary["succeeded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for name in ["base", "web", "worker", "api", "debug"] {
        assert!(succeeded.contains(&name), "{name}: {summary}");
    }
    let shell = common::of_type(&events, "skipped", Some("shell"));
    assert_eq!(shell[0]["reason"], "prebuilt");
    assert!(
        common::position(&events, "built", "base") < common::position(&events, "skipped", "shell")
    );

    for tag in [
        format!("{project}-base"),
        format!("{project}-web"),
        format!("{project}-worker"),
        format!("{project}/api:2.0"),
        format!("{project}/api:edge"),
        format!("{project}-debug"),
    ] {
        assert!(
            common::inspect(&tag).is_some(),
            "{tag} is not on the daemon"
        );
    }
    let web = common::inspect(&format!("{project}-web")).unwrap();
    assert_eq!(web["Config"]["Labels"]["org.shop.env"], "ci");
    assert_eq!(web["Config"]["Labels"]["org.shop.part"], "web");
    let read = |image: &str, path: &str| {
        let out = common::docker(&["run", "--rm", image, "cat", path]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::stdout(&out).trim().to_string()
    };
    assert_eq!(
        read(&format!("{project}-web"), "/srv/build-info"),
        "version=1.2.3 mode=prod"
    );
    assert_eq!(
        read(&format!("{project}-worker"), "/srv/build-info"),
        "version=1.2.3 mode=worker"
    );
    assert_eq!(
        read(&format!("{project}/api:2.0"), "/api-info"),
        "api\ndebug"
    );
    assert!(read(&format!("{project}-debug"), "/debug-info").starts_with("debug tools for "));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// An image-only service follows compose's `pull_policy`: the default
/// (`missing`) pulls an image the daemon does not have, `never` does not.
#[test]
fn image_only_services_are_pulled_when_missing() {
    require_docker!();
    let registry = common::registry::Registry::start();
    let stack = common::Stack::new();
    let image = format!("{}/{}/cache:1", registry.host, stack.prefix);
    let absent = format!("{}/{}/absent:1", registry.host, stack.prefix);
    let _cleanup = common::RemoveImages(vec![image.clone()]);

    // Put an image in the registry (built and pushed by kiln), then forget
    // it locally.
    stack.busybox_context("seed", "");
    stack.write(
        "compose.yaml",
        &format!("services:\n  seed:\n    build: ./seed\n    image: {image}\n    x-kiln: {{push: true}}\n"),
    );
    let out = kiln_compose(&stack, &["build", "--json"]);
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
    assert!(common::docker(&["rmi", &image]).status.success());
    assert!(common::inspect(&image).is_none());

    stack.write(
        "compose.yaml",
        &format!(
            "services:\n  cache:\n    image: {image}\n  pinned:\n    image: {absent}\n    pull_policy: never\n"
        ),
    );
    let out = kiln_compose(&stack, &["build", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", common::stderr(&out));
    let events = common::events(&out);
    assert_eq!(
        common::of_type(&events, "skipped", Some("cache"))[0]["reason"],
        "prebuilt"
    );
    assert!(common::inspect(&image).is_some(), "cache was pulled");
    let pulling = format!("pulling {image}");
    assert!(
        common::of_type(&events, "notice", Some("cache"))
            .iter()
            .any(|e| e["message"] == pulling.as_str()),
        "{}",
        common::stdout(&out)
    );
    let failed = common::of_type(&events, "failed", Some("pinned"));
    let error = failed[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "prebuilt image {absent} is not present on the daemon"
        )),
        "{error}"
    );
    assert!(
        !common::stdout(&out).contains(&format!("pulling {absent}")),
        "never pulled"
    );
}

/// A compose file's tags and images follow Docker's reference grammar, as
/// kiln.yaml's do: refused at their position before anything runs.
#[test]
fn compose_tags_and_images_follow_dockers_grammar() {
    let s = Scratch::new();
    let file = s.write(
        "compose.yaml",
        "services:\n  web:\n    image: Web:1\n    build:\n      context: app\n      tags: [\"a//b\"]\n  db:\n    image: \"Postgres:16\"\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
        .arg("-f")
        .arg(&file)
        .arg("check")
        .env_remove("KILN_FILE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stdout(&out));
    let err = common::stderr(&out);
    for says in [
        ":3:12: invalid tag 'Web:1': the repository name must be lowercase",
        ":6:14: invalid tag 'a//b': not a valid image reference",
        ":8:12: invalid image reference 'Postgres:16': the repository name must be lowercase",
    ] {
        assert!(err.contains(says), "{says}: {err}");
    }
}

// ---- compose files as real projects write them ----

/// A merge key inside an anchor (`x-defaults` built on `x-a`) is resolved,
/// in a service and in `build.args`; a mistake in the shared defaults is
/// reported once, where it is written, however many services use it.
#[test]
fn merge_keys_inside_anchors_are_resolved() {
    let s = Scratch::new();
    let text = "\
x-a: &a
  restart: unless-stopped
x-args: &args
  MODE: shared
x-defaults: &defaults
  <<: *a
  build:
    context: ./app
    args:
      <<: *args
      LEVEL: \"2\"
services:
  web:
    <<: *defaults
  worker:
    <<: *defaults
    image: worker
";
    let file = s.write("compose.yaml", text);
    let c = load_with(&[file], &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    for name in ["web", "worker"] {
        assert_eq!(
            image(&c, name).args,
            map(&[("LEVEL", "2"), ("MODE", "shared")]),
            "{name}"
        );
    }
    assert_eq!(image(&c, "worker").tags, ["worker"]);
    let bad = text.replace(
        "  restart: unless-stopped\n",
        "  restart: unless-stopped\n  bogus: 1\n",
    );
    assert_eq!(
        s.errors(&[("compose.yaml", &bad)]),
        ["compose.yaml:3:3: unknown service key 'bogus'"]
    );
}

/// After a flow sequence whose `]` stands on a later line (indented like
/// its key, which libyaml and compose accept), later problems keep their
/// own positions, once each.
#[test]
fn positions_after_a_flow_sequence_closed_on_a_later_line() {
    let s = Scratch::new();
    let text = "\
services:
  app:
    build: ./app
    command: [
    \"true\"
    ]
  web:
    build: ./app
    bogus: 1
  db:
    image: postgres
    entrypoint: [sh,
  -c]
    volumes: {}
    bogsu: 2
";
    assert_eq!(
        s.errors(&[("compose.yaml", text)]),
        [
            "compose.yaml:9:5: unknown service key 'bogus'",
            "compose.yaml:15:5: unknown service key 'bogsu'",
        ]
    );
}

/// An override file holding only comments, or nothing, adds nothing (as
/// compose-go skips an empty document); a first file that is empty is
/// fine when another file defines the services; only all files empty is
/// an error. (Compose v1, `docker-compose` 1.29, refuses any empty file.)
#[test]
fn empty_compose_files_add_nothing() {
    let s = Scratch::new();
    let base = s.write("compose.yaml", "services:\n  app:\n    build: ./app\n");
    for text in ["# nothing here yet\n", "", "---\n"] {
        let over = s.write("compose.override.yaml", text);
        let c = load_with(&[base.clone(), over], &ComposeOptions::default(), &[])
            .unwrap_or_else(|e| panic!("{text:?}: {e}"))
            .config;
        assert_eq!(c.images.len(), 1);
    }
    let empty = s.write("compose.yaml", "# comments only\n");
    let over = s.write(
        "compose.override.yaml",
        "services:\n  app:\n    build: ./app\n",
    );
    let c = load_with(&[empty, over], &ComposeOptions::default(), &[]).unwrap();
    assert_eq!(c.config.images[0].name, "app");
    assert_eq!(
        s.errors(&[("compose.yaml", "# x\n"), ("compose.override.yaml", "")]),
        ["compose.yaml:1:1: the compose file is empty; add a 'services:' mapping"]
    );
    assert_eq!(
        s.errors(&[("compose.yaml", "[a]\n")]),
        ["compose.yaml:1:1: expected a mapping with 'services:' at the top level"]
    );
    assert_eq!(
        s.errors(&[
            ("compose.yaml", "services: {}\n"),
            ("compose.override.yaml", "[a]\n")
        ]),
        [
            "compose.yaml:1:1: 'services' is empty; define at least one service",
            "compose.override.yaml:1:1: expected a mapping at the top level of an override file",
        ]
    );
}

/// Service names follow the compose specification (`^[a-zA-Z0-9._-]+$`):
/// capitals are fine for a prebuilt image or one with `image:`; a service
/// that builds without `image:` gets compose's name `<project>-<service>`,
/// which Docker refuses with capitals (compose v1 says so, v2 fails at
/// the build), so kiln says so before building.
#[test]
fn service_names_with_capitals() {
    let s = Scratch::new();
    let text = "\
services:
  frontendTests:
    build: ./app
    image: shop/frontend-tests
  myDB:
    image: postgres:16
  api.v2_x-y:
    build: ./app
";
    let file = s.write("compose.yaml", text);
    let c = load_with(&[file], &ComposeOptions::default(), &[])
        .unwrap()
        .config;
    let names: Vec<&str> = c.images.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["frontendTests", "myDB", "api.v2_x-y"]);
    assert_eq!(image(&c, "frontendTests").tags, ["shop/frontend-tests"]);
    assert_eq!(image(&c, "api.v2_x-y").tags, ["proj-api.v2_x-y"]);
    assert_eq!(
        s.errors(&[(
            "compose.yaml",
            "services:\n  frontendTests:\n    build: ./app\n  \"a/b\":\n    image: x\n  ..:\n    image: y\n"
        )]),
        [
            "compose.yaml:2:3: service 'frontendTests' builds an image that compose names 'proj-frontendTests', and an image name cannot have capital letters: give the service an 'image:' or a lowercase name",
            "compose.yaml:4:3: service name 'a/b' is not a valid compose service name: use letters, digits, '.', '_' and '-'",
            "compose.yaml:6:3: service name '..' cannot name a kiln image: kiln keeps each image's logs in a directory of its name",
        ]
    );
}

/// `kiln check` lists the base images of the stages a build of
/// `build.target` runs, not those of later stages it never reaches (nor
/// infers dependencies from them).
#[test]
fn check_lists_only_the_bases_the_target_reaches() {
    require_docker!();
    let stack = common::Stack::new();
    let absent = format!("{}-never-pulled:1", stack.prefix);
    stack.write(
        "app/Dockerfile",
        &format!("FROM scratch AS dev\nCOPY x /x\nFROM {absent} AS prod\nCOPY --from=dev /x /x\n"),
    );
    stack.write("app/x", "x\n");
    let compose = |target: &str| {
        stack.write(
            "compose.yaml",
            &format!("services:\n  app:\n    build:\n      context: app\n      target: {target}\n"),
        );
        let out = kiln_compose(&stack, &["check"]);
        assert!(out.status.success(), "{}", common::stderr(&out));
        common::stdout(&out)
    };
    let dev = compose("dev");
    assert!(
        !dev.contains("base images") && !dev.contains(&absent),
        "{dev}"
    );
    let prod = compose("prod");
    assert!(
        prod.contains(&format!(
            "{absent}  not on the daemon: the first build pulls it (used by app)"
        )),
        "{prod}"
    );
}

// ---- large projects: the plan is made from an index of tags ----

/// A compose project of `n` services building one Dockerfile (`FROM
/// ${BASE}`), each service's extra lines from `extra(i)`; loaded.
fn big_project(n: usize, extra: impl Fn(usize) -> String) -> (Scratch, Config) {
    let s = Scratch::new();
    s.write("Dockerfile", "ARG BASE=scratch\nFROM ${BASE}\nCOPY f /f\n");
    s.write("f", "data\n");
    let mut yaml = String::from("name: big\nservices:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  s{i}:\n    image: big/s{i}:latest\n    build:\n      context: .\n{}",
            extra(i)
        ));
    }
    let path = s.write("compose.yaml", &yaml);
    let loaded =
        load_with(&[path], &ComposeOptions::default(), &[]).unwrap_or_else(|e| panic!("{e}"));
    (s, loaded.config)
}

#[test]
fn five_thousand_services_plan_as_their_dockerfiles_and_depends_on_say() {
    // Odd services build FROM the even one before them, named in each of
    // the forms that mean the same tag; every fourth also declares it.
    let n = 5_000;
    let forms = |i: usize| match i % 3 {
        0 => format!("big/s{i}:latest"),
        1 => format!("big/s{i}"),
        _ => format!("docker.io/big/s{i}"),
    };
    let (_s, config) = big_project(n, |i| {
        let mut extra = String::new();
        if i % 2 == 1 {
            extra.push_str(&format!("      args:\n        BASE: {}\n", forms(i - 1)));
        }
        if i % 4 == 3 {
            extra.push_str(&format!("    depends_on: [s{}]\n", i - 1));
        }
        extra
    });
    assert_eq!(config.images.len(), n);
    let plan = config.plan();
    assert_eq!(plan.waves.len(), 2);
    assert_eq!(plan.waves[0], (0..n).step_by(2).collect::<Vec<_>>());
    assert_eq!(plan.waves[1], (1..n).step_by(2).collect::<Vec<_>>());
    for (i, deps) in plan.deps.iter().enumerate() {
        let want: Vec<Dep> = if i % 2 == 1 {
            vec![Dep {
                on: i - 1,
                inferred: i % 4 == 1,
            }]
        } else {
            vec![]
        };
        assert_eq!(deps, &want, "s{i}");
    }
    // Build order: each odd one right after its base (file order wins
    // among the ready ones).
    assert_eq!(plan.order, (0..n).collect::<Vec<_>>());
}

#[test]
fn a_five_thousand_long_depends_on_chain_plans_in_order() {
    let n = 5_000;
    let (_s, config) = big_project(n, |i| {
        if i > 0 {
            format!("    depends_on: [s{}]\n", i - 1)
        } else {
            String::new()
        }
    });
    let plan = config.plan();
    assert_eq!(plan.order, (0..n).collect::<Vec<_>>());
    assert_eq!(plan.waves.len(), n);
    assert!(plan
        .waves
        .iter()
        .enumerate()
        .all(|(w, images)| images == &[w]));
    assert!(plan.deps.iter().enumerate().skip(1).all(|(i, d)| d
        == &[Dep {
            on: i - 1,
            inferred: false
        }]));
    let last = format!("s{}", n - 1);
    assert_eq!(config.select(&[last]).unwrap().len(), n, "the whole chain");
}

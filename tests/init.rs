//! `kiln init` on trees of Dockerfiles it has never seen: the kiln.yaml it
//! writes loads, `kiln check` orders the images by their `FROM` lines, a
//! stack it wrote builds on the real daemon in that order, and it never
//! overwrites a kiln.yaml nor writes one beside a compose file unless told.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod common;
#[path = "common/schema.rs"]
mod schema;

use std::path::Path;
use std::process::{Command, Output};

use common::Stack;

/// `kiln ARGS` run in `dir` (no `-f`), with isolated data dirs.
fn kiln_in(stack: &Stack, dir: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kiln"));
    cmd.current_dir(dir).args(args);
    common::isolate(&mut cmd, stack.home.path());
    cmd.output().expect("run kiln")
}

/// The waves `kiln check` printed: each wave's image names.
fn waves(check_out: &str) -> Vec<Vec<String>> {
    let mut waves: Vec<Vec<String>> = Vec::new();
    for line in check_out.lines() {
        if line.starts_with("wave ") {
            waves.push(Vec::new());
        } else if let (Some(wave), Some(rest)) = (waves.last_mut(), line.strip_prefix("  ")) {
            if !line.starts_with("   ") && !rest.is_empty() {
                wave.push(rest.split_whitespace().next().unwrap().to_string());
            }
        } else if line.starts_with("base images") {
            break;
        }
    }
    waves
}

/// The `images:` entries of a kiln.yaml as (name, context, dockerfile, tags).
fn entries(yaml: &str) -> Vec<Entry> {
    let doc: serde_yaml::Value = serde_yaml::from_str(yaml).expect("kiln.yaml is YAML");
    doc["images"]
        .as_sequence()
        .expect("images:")
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().map(String::from);
            let tags = i["tags"]
                .as_sequence()
                .map(|t| {
                    t.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            (
                s("name").unwrap(),
                s("context").unwrap(),
                s("dockerfile"),
                tags,
            )
        })
        .collect()
}

/// A tree in the shapes people have, under `shop/`: Dockerfile names of
/// every kind, a FROM by tag with and without `:latest`, through an ARG,
/// by digest, an upstream image wrapped by a directory of the same name,
/// and files in places that are not searched.
fn write_shapes(s: &Stack) {
    let w = |rel: &str, text: &str| s.write(&format!("shop/{rel}"), text);
    w("Dockerfile", "FROM scratch\n");
    w("base/Dockerfile", "FROM scratch\nCOPY . /\n");
    w("api/Dockerfile", "FROM myorg/base:latest\n");
    w(
        "api/Dockerfile.worker",
        "ARG API=myorg/api:2\nFROM ${API} AS api\nCOPY --from=myorg/base /x /x\n",
    );
    w("web/ui.Dockerfile", "FROM myorg/base\n");
    w("web/Dockerfile.dockerignore", "node_modules\n");
    w("web/Dockerfile~", "FROM scratch\n");
    // An upstream image of the same name: `python/` extends `python:3.12`,
    // it is not what tools' FROM means.
    w("python/Dockerfile", "FROM python:3.12\n");
    w(
        "tools/Dockerfile",
        &format!(
            "FROM python:3.12\nCOPY --from=myorg/base@sha256:{} /x /x\n",
            "ab".repeat(32)
        ),
    );
    // A directory name YAML and kiln's ${VAR} would misread.
    w("odd $dir: yes/Dockerfile", "FROM scratch\n");
    // Not searched: dot-directories, .gitignore'd, a .dockerignore'd dir.
    w(".devcontainer/Dockerfile", "FROM scratch\n");
    w(".gitignore", "node_modules/\nbuild-*.Dockerfile\n");
    w("node_modules/pkg/Dockerfile", "FROM scratch\n");
    w("build-gen.Dockerfile", "FROM scratch\n");
    w("web/.dockerignore", "vendor\n**/Dockerfile\n");
    w("web/vendor/lib/Dockerfile", "FROM scratch\n");
}

type Entry = (String, String, Option<String>, Vec<String>);

fn entry(name: &str, context: &str, dockerfile: Option<&str>, tags: &[&str]) -> Entry {
    (
        name.to_string(),
        context.to_string(),
        dockerfile.map(String::from),
        tags.iter().map(|t| t.to_string()).collect(),
    )
}

#[test]
fn writes_a_stack_that_check_accepts_in_dependency_order() {
    let s = Stack::new();
    write_shapes(&s);
    let root = s.path("shop");
    let out = kiln_in(&s, &root, &["init"]);
    let stdout = common::stdout(&out);
    assert!(out.status.success(), "{}{}", stdout, common::stderr(&out));
    assert!(stdout.starts_with("found 8 Dockerfiles:\n"), "{stdout}");
    assert!(
        stdout.contains("wrote kiln.yaml and kiln.schema.json"),
        "{stdout}"
    );
    assert!(
        stdout.contains("kiln.yaml: 8 images in 3 waves"),
        "{stdout}"
    );

    let yaml = std::fs::read_to_string(root.join("kiln.yaml")).unwrap();
    // `$` is written `$$`, so what YAML gives is what kiln interpolates back.
    let got: Vec<Entry> = entries(&yaml)
        .into_iter()
        .map(|(n, c, d, t)| (n, c.replace("$$", "$"), d, t))
        .collect();
    // In build order, otherwise as found (by path).
    let want = vec![
        entry("shop", ".", None, &["shop:latest"]),
        entry("base", "./base", None, &["myorg/base:latest"]),
        entry("api", "./api", None, &["myorg/api:2"]),
        entry(
            "api-worker",
            "./api",
            Some("Dockerfile.worker"),
            &["api-worker:latest"],
        ),
        entry(
            "odd-dir-yes",
            "./odd $dir: yes",
            None,
            &["odd-dir-yes:latest"],
        ),
        entry("python", "./python", None, &["python:latest"]),
        entry("tools", "./tools", None, &["tools:latest"]),
        entry("web-ui", "./web", Some("ui.Dockerfile"), &["web-ui:latest"]),
    ];
    assert_eq!(got, want, "{yaml}");

    let check = kiln_in(&s, &root, &["check"]);
    let check_out = common::stdout(&check);
    assert!(
        check.status.success(),
        "{check_out}{}",
        common::stderr(&check)
    );
    let w = waves(&check_out);
    let wave_of = |name: &str| w.iter().position(|wave| wave.iter().any(|n| n == name));
    assert_eq!(w.len(), 3, "{check_out}");
    assert_eq!(wave_of("base"), Some(0), "{check_out}");
    assert_eq!(wave_of("api"), Some(1), "{check_out}");
    assert_eq!(wave_of("web-ui"), Some(1), "{check_out}");
    assert_eq!(wave_of("api-worker"), Some(2), "{check_out}");
    // Neither the wrapped upstream nor a digest links anything.
    assert_eq!(wave_of("tools"), Some(0), "{check_out}");
    assert_eq!(wave_of("python"), Some(0), "{check_out}");
    // `kiln init` printed that same plan (check then names the engine).
    let plan = check_out
        .rsplit_once("engine: ")
        .map_or(check_out.as_str(), |(plan, _)| plan);
    let relative = plan.replace(&format!("{}/", root.display()), "");
    assert!(stdout.ends_with(&relative), "{stdout}\n---\n{check_out}");
}

#[test]
fn builds_what_it_wrote_in_the_order_it_found() {
    require_docker!();
    let s = Stack::new();
    let p = &s.prefix;
    // Directory names under the stack's prefix: every tag init gives is
    // one the stack removes afterwards.
    s.busybox_context(&format!("{p}-base"), "RUN echo base > /base.txt\n");
    s.write(
        &format!("{p}-app/Dockerfile"),
        &format!("FROM {p}/{p}-base\nRUN cat /base.txt > /app.txt\n"),
    );
    s.write(
        &format!("{p}-app/Dockerfile.test"),
        &format!("FROM {p}/{p}-app:ci\nRUN cat /app.txt\n"),
    );
    let root = s.dir.path();
    let out = kiln_in(&s, root, &["init"]);
    assert!(out.status.success(), "{}", common::stderr(&out));

    let build = kiln_in(&s, root, &["build", "--json"]);
    assert!(
        build.status.success(),
        "{}{}",
        common::stdout(&build),
        common::stderr(&build)
    );
    let events = common::events(&build);
    let (base, app, test) = (
        format!("{p}-base"),
        format!("{p}-app"),
        format!("{p}-app-test"),
    );
    assert!(
        common::position(&events, "built", &base) < common::position(&events, "started", &app),
        "app must start after base is built"
    );
    assert!(common::position(&events, "built", &app) < common::position(&events, "started", &test));
    assert!(common::inspect(&format!("{p}/{p}-base:latest")).is_some());
    assert!(common::inspect(&format!("{p}/{p}-app:ci")).is_some());
    assert!(common::inspect(&format!("{test}:latest")).is_some());
}

#[test]
fn never_overwrites_a_kiln_yaml() {
    let s = Stack::new();
    write_shapes(&s);
    let root = s.path("shop");
    for existing in ["kiln.yaml", "kiln.yml"] {
        std::fs::write(root.join(existing), "# mine\n").unwrap();
        let out = kiln_in(&s, &root, &["init"]);
        assert_eq!(out.status.code(), Some(2), "{existing}");
        let err = common::stderr(&out);
        assert!(
            err.contains(&format!(
                "{existing} already exists; kiln init never overwrites it"
            )),
            "{err}"
        );
        assert_eq!(
            std::fs::read_to_string(root.join(existing)).unwrap(),
            "# mine\n"
        );
        assert!(common::stdout(&out).is_empty());
        std::fs::remove_file(root.join(existing)).unwrap();
    }
    // Given a directory, it looks there.
    std::fs::write(root.join("api/kiln.yaml"), "# mine\n").unwrap();
    let out = kiln_in(&s, &root, &["init", "api"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("api/kiln.yaml already exists"));
    assert_eq!(
        std::fs::read_to_string(root.join("api/kiln.yaml")).unwrap(),
        "# mine\n"
    );
}

/// The kiln.yaml init writes names, on its first line, the schema it
/// writes beside it: `kiln schema`'s, which that file, the demo's and the
/// benchmark stack's validate against. A schema already there is kept.
#[test]
fn writes_the_schema_its_first_line_names_and_validates_against_it() {
    let s = Stack::new();
    write_shapes(&s);
    let root = &s.path("shop");
    let out = kiln_in(&s, root, &["init"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        common::stdout(&out).contains("wrote kiln.yaml and kiln.schema.json"),
        "{}",
        common::stdout(&out)
    );
    let yaml = std::fs::read_to_string(root.join("kiln.yaml")).unwrap();
    assert_eq!(
        yaml.lines().next(),
        Some("# yaml-language-server: $schema=kiln.schema.json")
    );
    let printed = kiln_in(&s, root, &["schema"]);
    assert!(printed.status.success());
    let written = std::fs::read_to_string(root.join("kiln.schema.json")).unwrap();
    assert_eq!(common::stdout(&printed), written);
    let schema: serde_json::Value = serde_json::from_str(&written).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let docs: Vec<String> = [
        root.join("kiln.yaml"),
        repo.join("assets/demo/kiln.yaml"),
        repo.join("benches/stack/kiln.yaml"),
    ]
    .iter()
    .map(|p| std::fs::read_to_string(p).unwrap())
    .collect();
    assert_eq!(
        schema::complaints(&schema, &docs),
        vec![Vec::<String>::new(); 3]
    );

    s.write("kept/app/Dockerfile", "FROM scratch\n");
    s.write("kept/kiln.schema.json", "{}\n");
    let out = kiln_in(&s, &s.path("kept"), &["init"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(common::stdout(&out).contains("kept the kiln.schema.json that is there"));
    assert_eq!(
        std::fs::read_to_string(s.path("kept/kiln.schema.json")).unwrap(),
        "{}\n"
    );
}

#[test]
fn stdout_prints_the_file_and_writes_nothing() {
    let s = Stack::new();
    write_shapes(&s);
    let root = &s.path("shop");
    let printed = kiln_in(&s, root, &["init", "--stdout"]);
    assert!(printed.status.success(), "{}", common::stderr(&printed));
    assert!(!root.join("kiln.yaml").exists());
    assert!(!root.join("kiln.schema.json").exists());
    let err = common::stderr(&printed);
    assert!(err.starts_with("found 8 Dockerfiles:"), "{err}");
    assert!(
        err.contains("`kiln schema > kiln.schema.json` writes it"),
        "{err}"
    );
    assert!(err.contains("kiln.yaml: 8 images in 3 waves"), "{err}");
    // Exactly what `kiln init` then writes.
    let written = kiln_in(&s, root, &["init"]);
    assert!(written.status.success());
    let file = std::fs::read_to_string(root.join("kiln.yaml")).unwrap();
    assert_eq!(common::stdout(&printed), file);
    // And with a kiln.yaml there, it still only prints.
    let again = kiln_in(&s, root, &["init", "--stdout"]);
    assert!(again.status.success());
    assert_eq!(common::stdout(&again), file);
}

#[test]
fn a_compose_file_is_read_as_it_is_unless_told_otherwise() {
    let s = Stack::new();
    s.write("app/Dockerfile", "FROM scratch\n");
    s.write(
        "docker-compose.yml",
        "services:\n  app:\n    build: ./app\n",
    );
    let root = s.dir.path();
    let out = kiln_in(&s, root, &["init"]);
    assert_eq!(out.status.code(), Some(2));
    let err = common::stderr(&out);
    assert!(
        err.contains("docker-compose.yml is here, and kiln already reads it as it is"),
        "{err}"
    );
    assert!(err.contains("kiln init --ignore-compose"), "{err}");
    assert!(!root.join("kiln.yaml").exists());

    let out = kiln_in(&s, root, &["init", "--ignore-compose"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let names: Vec<String> = entries(&std::fs::read_to_string(root.join("kiln.yaml")).unwrap())
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, ["app"]);
}

#[test]
fn says_so_when_there_is_nothing_to_find_or_it_is_asked_wrongly() {
    let s = Stack::new();
    s.write("README.md", "no Dockerfiles here\n");
    s.write(".hidden/Dockerfile", "FROM scratch\n");
    let out = kiln_in(&s, s.dir.path(), &["init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out)
        .contains("no Dockerfile (Dockerfile, Dockerfile.*, *.Dockerfile) in . or below"));
    assert!(!s.path("kiln.yaml").exists());

    let out = kiln_in(&s, s.dir.path(), &["init", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out).contains("nope: no such directory"));

    let out = kiln_in(&s, s.dir.path(), &["-f", "x.yaml", "init"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::stderr(&out)
        .contains("--file, --project-name, --profile and --env-file do not apply"));
}

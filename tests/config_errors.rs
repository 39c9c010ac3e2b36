//! Behaviour of the public `config` API on whole files: exact error
//! positions, reporting everything at once, dependencies, discovery, and
//! robustness against garbage. Uses only the public API.
#![allow(clippy::unwrap_used, clippy::string_slice)]

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kiln::config::*;
use kiln::human::format_duration;

fn no_env(_: &str) -> Option<String> {
    None
}

/// A temp project: `dirs` get a `Dockerfile` with the given text.
struct Project {
    tmp: tempfile::TempDir,
}

impl Project {
    fn new() -> Project {
        Project {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn dockerfile(&self, dir: &str, text: &str) -> &Self {
        let d = self.dir().join(dir);
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("Dockerfile"), text).unwrap();
        self
    }

    fn write(&self, yaml: &str) -> PathBuf {
        let p = self.dir().join("kiln.yaml");
        fs::write(&p, yaml).unwrap();
        p
    }

    fn load_with(
        &self,
        yaml: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Loaded, ConfigErrors> {
        let p = self.write(yaml);
        load(&p, env)
    }

    /// Errors as `LINE:COL: message` (file prefix checked and stripped).
    fn errors(&self, yaml: &str) -> Vec<String> {
        let p = self.write(yaml);
        let errs = match load(&p, &no_env) {
            Ok(_) => panic!("expected errors for:\n{yaml}"),
            Err(e) => e,
        };
        errs.errors
            .iter()
            .map(|e| {
                assert_eq!(e.file, p);
                let full = e.to_string();
                let prefix = format!("{}:", p.display());
                assert!(full.starts_with(&prefix), "{full}");
                full[prefix.len()..].to_string()
            })
            .collect()
    }

    fn ok(&self, yaml: &str) -> Loaded {
        match self.load_with(yaml, &no_env) {
            Ok(l) => l,
            Err(e) => panic!("expected success, got:\n{e}"),
        }
    }
}

#[test]
fn unknown_field_with_suggestion_exact_position() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let errs = p.errors("images:\n  - name: base\n    contxt: ./base\n");
    assert_eq!(
        errs,
        vec!["3:5: unknown field 'contxt' — did you mean 'context'?"]
    );
}

#[test]
fn unknown_field_without_suggestion_lists_fields() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let errs = p.errors("images:\n  - name: base\n    zzzzzzzzz: 1\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("3:5: unknown field 'zzzzzzzzz' (valid fields: name, context,"),
        "{}",
        errs[0]
    );
    let errs = p.errors("imagez:\n  - name: base\n");
    assert_eq!(
        errs[0],
        "1:1: unknown field 'imagez' — did you mean 'images'?"
    );
}

#[test]
fn wrong_types_exact_positions() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let yaml = "\
images:
  - name: base
    tags: 5
    push: maybe
    args: [a, b]
    cache_from: [ok, 3]
    shm_size: 64q
    timeout: 0s
    target: {a: 1}
";
    assert_eq!(
        p.errors(yaml),
        vec![
            "3:11: 'tags' must be a list of strings",
            "4:11: 'push' must be true or false",
            "5:11: 'args' must be a mapping of NAME: value",
            "6:22: 'cache_from' must be a list of strings",
            "7:15: shm_size: invalid size '64q' (use e.g. 64m, 1g, 512k or a number of bytes)",
            "8:14: timeout: duration '0s' must be greater than 0",
            "9:13: 'target' must be a string",
        ]
    );
}

#[test]
fn defaults_errors() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let yaml = "\
defaults:
  jobs: 0
  builder: buildkt
  stall_after: 5x
  colour: red
images:
  - name: base
";
    assert_eq!(
        p.errors(yaml),
        vec![
            "2:9: 'jobs' must be an integer >= 1",
            "3:12: 'builder' must be one of auto, buildkit, legacy (got 'buildkt') — did you mean 'buildkit'?",
            "4:16: stall_after: invalid duration '5x' (use e.g. 90s, 2m, 1h30m)",
            "5:3: unknown field 'colour' (valid fields: builder, jobs, stall_after, timeout, push, no_cache, pull, network, platform, args, labels, secrets, ssh, push_tags)",
        ]
    );
}

#[test]
fn four_different_errors_four_lines() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let yaml = "\
images:
  - name: base
    contxt: ./base
  - name: Web
    context: ./base
  - name: api
    context: ./bse
  - name: base
";
    let path = p.write(yaml);
    let err = load(&path, &no_env).unwrap_err();
    let shown = err.to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 4, "{shown}");
    let d = path.display();
    assert_eq!(
        lines[0],
        format!("{d}:3:5: unknown field 'contxt' — did you mean 'context'?")
    );
    assert_eq!(
        lines[1],
        format!("{d}:4:11: invalid image name 'Web' — use lowercase letters, digits, '_', '.', '-', starting with a letter or digit")
    );
    assert_eq!(
        lines[2],
        format!("{d}:7:14: context directory ./bse does not exist")
    );
    assert_eq!(
        lines[3],
        format!("{d}:8:11: duplicate image name 'base' (first defined on line 2)")
    );
}

#[test]
fn missing_context_and_dockerfile() {
    let p = Project::new();
    fs::create_dir_all(p.dir().join("empty")).unwrap();
    fs::write(p.dir().join("afile"), "").unwrap();
    let yaml = "\
images:
  - name: web
  - name: base
    context: ./empty
  - name: other
    context: ./empty/
    dockerfile: build/Dockerfile.dev
  - name: f
    context: afile
";
    assert_eq!(
        p.errors(yaml),
        vec![
            "2:11: context directory ./web does not exist",
            "4:14: Dockerfile not found: ./empty/Dockerfile",
            "7:17: Dockerfile not found: ./empty/build/Dockerfile.dev",
            "9:14: context afile is not a directory",
        ]
    );
}

#[test]
fn missing_name_and_structure_errors() {
    let p = Project::new();
    assert_eq!(
        p.errors("images:\n  - context: .\n"),
        vec!["2:5: image entry is missing 'name'"]
    );
    assert_eq!(
        p.errors("images:\n  - just-a-string\n"),
        vec!["2:5: each entry in 'images' must be a mapping with at least 'name'"]
    );
    assert_eq!(
        p.errors("images: []\n"),
        vec!["1:9: 'images' is empty; define at least one image"]
    );
    assert_eq!(
        p.errors("images:\n"),
        vec!["1:1: 'images' is empty; define at least one image"]
    );
    assert_eq!(
        p.errors("images: web\n"),
        vec!["1:9: 'images' must be a list of image entries"]
    );
    assert_eq!(
        p.errors("defaults:\n  jobs: 2\n"),
        vec!["1:1: no images defined: add an 'images:' list"]
    );
    assert_eq!(
        p.errors(""),
        vec!["1:1: file is empty; add an 'images:' list"]
    );
    assert_eq!(
        p.errors("- a\n- b\n"),
        vec!["1:1: expected a mapping with an 'images:' list at the top level"]
    );
}

#[test]
fn prebuilt_with_build_fields() {
    let p = Project::new();
    let yaml = "\
images:
  - name: tools
    image: alpine:3.20
    context: ./tools
    args: {A: 1}
";
    assert_eq!(
        p.errors(yaml),
        vec![
            "4:5: 'context' cannot be used with 'image' (a prebuilt image is never built)",
            "5:5: 'args' cannot be used with 'image' (a prebuilt image is never built)",
        ]
    );
    let l = p.ok("images:\n  - name: tools\n    image: alpine:3.20\n");
    let img = &l.config.images[0];
    assert_eq!(
        img.source,
        Source::Prebuilt {
            image: "alpine:3.20".into()
        }
    );
    assert_eq!(img.tags, vec!["alpine:3.20"]);
}

#[test]
fn depends_on_unknown_and_self() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n")
        .dockerfile("web", "FROM alpine\n");
    let yaml = "\
images:
  - name: base
  - name: web
    depends_on: [bse, web]
";
    assert_eq!(
        p.errors(yaml),
        vec![
            "4:18: depends_on: unknown image 'bse' — did you mean 'base'?",
            "4:23: image 'web' depends on itself",
        ]
    );
}

#[test]
fn declared_cycle_is_named_at_closing_entry() {
    let p = Project::new();
    for d in ["a", "b", "c", "d"] {
        p.dockerfile(d, "FROM alpine\n");
    }
    let yaml = "\
images:
  - name: a
    depends_on: [b]
  - name: b
    depends_on:
      - d
      - c
  - name: c
    depends_on: [a]
  - name: d
";
    assert_eq!(
        p.errors(yaml),
        vec!["9:18: dependency cycle: a -> b -> c -> a"]
    );
}

#[test]
fn inferred_cycle_points_at_image_name() {
    let p = Project::new();
    p.dockerfile("a", "FROM b:latest\n")
        .dockerfile("b", "FROM alpine\n");
    let yaml = "images:\n  - name: a\n  - name: b\n    depends_on: [a]\n";
    assert_eq!(p.errors(yaml), vec!["4:18: dependency cycle: a -> b -> a"]);
    p.dockerfile("b", "FROM a\n");
    let yaml = "images:\n  - name: a\n  - name: b\n";
    assert_eq!(
        p.errors(yaml),
        vec!["3:11: dependency cycle: a -> b -> a ('b' uses 'a' in its Dockerfile)"]
    );
}

#[test]
fn interpolation_in_load() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let vars: HashMap<&str, &str> = [("REG", "localhost:5001"), ("EMPTY", "")].into();
    let env = move |k: &str| vars.get(k).map(|s| s.to_string());
    let yaml = "\
images:
  - name: base
    tags: [\"${REG}/base:${VERSION:-dev}\", \"x:a${EMPTY-none}\"]
    args: {A: \"${MISSING}\", N: 5, B: true, L: \"$${LIT}\"}
    push: ${PUSH:-true}
    timeout: ${T:-2m}
";
    let l = p.load_with(yaml, &env).unwrap();
    let img = &l.config.images[0];
    assert_eq!(img.tags, vec!["localhost:5001/base:dev", "x:a"]);
    assert_eq!(img.args.get("L").map(String::as_str), Some("${LIT}"));
    assert_eq!(img.args.get("A").map(String::as_str), Some(""));
    assert_eq!(img.args.get("N").map(String::as_str), Some("5"));
    assert_eq!(img.args.get("B").map(String::as_str), Some("true"));
    assert!(img.push);
    assert_eq!(img.timeout, Duration::from_secs(120));
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(
        l.warnings[0].to_string(),
        format!(
            "{}:4:15: variable MISSING is not set; using an empty string",
            p.dir().join("kiln.yaml").display()
        )
    );

    let yaml = "images:\n  - name: base\n    target: \"${X:?need X}\"\n    platform: ${P\n";
    assert_eq!(
        p.errors(yaml),
        vec![
            "3:13: X: need X",
            "4:15: unterminated '${' in '${P' (missing '}')"
        ]
    );
}

#[test]
fn keys_are_not_interpolated() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let l = p.ok("images:\n  - name: base\n    args: {\"${K}\": v}\n");
    assert!(l.config.images[0].args.contains_key("${K}"));
}

#[test]
fn older_shape() {
    let p = Project::new();
    p.dockerfile("svc/api", "FROM alpine\n");
    let yaml = "\
defaults:
  builder: legacy
builder:
  images:
    - name: api
      from: ./svc/api
    - name: remote
      from: https://github.com/me/repo.git#main:sub
";
    let l = p.ok(yaml);
    let c = &l.config;
    assert_eq!(c.images.len(), 2);
    assert_eq!(
        c.images[0].source,
        Source::Build {
            context: ContextSource::Dir(p.dir().join("./svc/api")),
            dockerfile: Dockerfile::Path("Dockerfile".into())
        }
    );
    assert_eq!(c.images[0].builder, BuilderChoice::Legacy);
    assert_eq!(c.images[0].line, 5);
    assert_eq!(
        c.images[1].source,
        Source::Build {
            context: ContextSource::Git("https://github.com/me/repo.git#main:sub".into()),
            dockerfile: Dockerfile::Path("Dockerfile".into())
        }
    );
    // Errors in the older shape are located too.
    let errs = p.errors("builder:\n  images:\n    - name: api\n      form: ./svc/api\n");
    assert_eq!(
        errs,
        vec![
            // `from` was misspelt, so the default context ./api is checked.
            "3:13: context directory ./api does not exist",
            "4:7: unknown field 'form' — did you mean 'from'?",
        ]
    );
    let errs = p.errors("builder: buildkit\nimages:\n  - name: api\n    context: svc/api\n");
    assert!(
        errs[0].starts_with("1:10: top-level 'builder' must be a mapping"),
        "{errs:?}"
    );
}

#[test]
fn defaults_apply_and_merge() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n")
        .dockerfile("web", "FROM alpine\n");
    let yaml = "\
defaults:
  jobs: 2
  stall_after: 90s
  push: true
  platform: linux/amd64
  args: {A: a, B: b}
  labels: {team: core}
images:
  - name: base
  - name: web
    push: false
    stall_after: 1h30m
    shm_size: 64m
    args: {B: web}
    labels: {tier: front}
    tags: [localhost:5001/web:latest]
";
    let c = p.ok(yaml).config;
    assert_eq!(c.jobs, 2);
    let (base, web) = (&c.images[0], &c.images[1]);
    assert_eq!(base.tags, vec!["base:latest"]);
    assert!(base.push && !web.push);
    assert_eq!(base.stall_after, Duration::from_secs(90));
    assert_eq!(web.stall_after, Duration::from_secs(5400));
    assert_eq!(base.timeout, Duration::from_secs(1800));
    assert_eq!(web.shm_size, Some(64 << 20));
    assert_eq!(web.platform.as_deref(), Some("linux/amd64"));
    let want: BTreeMap<String, String> =
        [("A".into(), "a".into()), ("B".into(), "web".into())].into();
    assert_eq!(web.args, want);
    assert_eq!(web.labels.len(), 2);
    assert_eq!(base.builder, BuilderChoice::Auto);
    assert_eq!(c.dir, p.dir());
    let defaults_only = p.ok("images:\n  - name: base\n").config;
    assert_eq!(defaults_only.jobs, 4);
    assert_eq!(defaults_only.images[0].stall_after, Duration::from_secs(60));
}

#[test]
fn yaml_syntax_error_located_without_serde_suffix() {
    let p = Project::new();
    let errs = p.errors("images:\n  - name: a\n   bad: x\n");
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0],
        "3:4: YAML syntax error: did not find expected '-' indicator, while parsing a block collection at 2:3"
    );
    let errs = p.errors("images:\n\t- name: a\n");
    assert!(
        errs[0].starts_with("2:1: YAML syntax error:"),
        "{}",
        errs[0]
    );
    let errs = p.errors("images:\n  - name: a\n    name: b\n");
    assert!(errs[0].contains("duplicate entry"), "{}", errs[0]);
}

#[test]
fn not_utf8_is_located() {
    let p = Project::new();
    let path = p.dir().join("kiln.yaml");
    fs::write(&path, b"images:\n  - name: a\xff\n").unwrap();
    let err = load(&path, &no_env).unwrap_err();
    assert_eq!(err.errors[0].line, 2);
    assert_eq!(err.errors[0].col, 12);
    assert_eq!(err.errors[0].message, "file is not valid UTF-8");
}

#[test]
fn discovery_walks_up_and_explains_failure() {
    let p = Project::new();
    let deep = p.dir().join("x/y");
    fs::create_dir_all(&deep).unwrap();
    let err = discover(&[], &FileEnv::default(), &deep).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no kiln.yaml or compose file (compose.yaml, docker-compose.yml, ...) found in {} or any parent directory; create one or pass --file PATH",
            deep.display()
        )
    );
    fs::write(p.dir().join("kiln.yaml"), "images: []\n").unwrap();
    assert_eq!(
        discover(&[], &FileEnv::default(), &deep).unwrap(),
        [p.dir().join("kiln.yaml")]
    );
}

#[test]
fn inferred_edges_plan_and_waves() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine:3.20\n")
        .dockerfile("tools", "ARG REG=localhost:5001\nFROM --platform=$BUILDPLATFORM ${REG}/base AS build\nFROM scratch\nCOPY --from=build /a /a\n")
        .dockerfile("web", "FROM node AS deps\nFROM localhost:5001/base:latest\nCOPY --from=deps /x /x\nRUN --mount=type=bind,from=tools:1.0,target=/t true\n")
        .dockerfile("docs", "FROM alpine\n");
    let yaml = "\
images:
  - name: web
    depends_on: [base]
  - name: docs
  - name: tools
    tags: [\"tools:1.0\"]
  - name: base
    tags: [localhost:5001/base:latest]
  - name: alp
    image: alpine:3.20
";
    let c = p.ok(yaml).config;
    let idx = |n: &str| c.index_of(n).unwrap();
    assert_eq!(c.images[idx("web")].depends_on, vec!["base"]);
    assert_eq!(c.images[idx("web")].inferred_depends_on, vec!["tools"]);
    assert_eq!(c.images[idx("tools")].inferred_depends_on, vec!["base"]);
    assert_eq!(c.images[idx("base")].inferred_depends_on, vec!["alp"]);
    let plan = c.plan();
    assert_eq!(
        plan.deps[idx("web")],
        vec![
            Dep {
                on: idx("base"),
                inferred: false
            },
            Dep {
                on: idx("tools"),
                inferred: true
            }
        ]
    );
    assert_eq!(plan.deps[idx("docs")], vec![]);
    // docs, alp first (file order), then base, tools, web.
    assert_eq!(
        plan.order,
        vec![
            idx("docs"),
            idx("alp"),
            idx("base"),
            idx("tools"),
            idx("web")
        ]
    );
    assert_eq!(
        plan.waves,
        vec![
            vec![idx("docs"), idx("alp")],
            vec![idx("base")],
            vec![idx("tools")],
            vec![idx("web")]
        ]
    );
}

#[test]
fn select_closure_in_plan_order() {
    let p = Project::new();
    for d in ["a", "b", "c", "d"] {
        p.dockerfile(d, "FROM alpine\n");
    }
    p.dockerfile("c", "FROM b:latest\n");
    let yaml = "\
images:
  - name: d
  - name: c
  - name: b
    depends_on: [a]
  - name: a
";
    let c = p.ok(yaml).config;
    let i = |n: &str| c.index_of(n).unwrap();
    assert_eq!(
        c.select(&["c".to_string()]).unwrap(),
        vec![i("a"), i("b"), i("c")]
    );
    assert_eq!(c.select(&["d".to_string()]).unwrap(), vec![i("d")]);
    assert_eq!(c.select(&[]).unwrap().len(), 4);
    assert_eq!(
        c.select(&["bb".to_string(), "zzzzz".to_string()])
            .unwrap_err(),
        "unknown image 'bb' — did you mean 'b'?; unknown image 'zzzzz'"
    );
}

#[test]
fn plan_survives_hand_made_cycles() {
    let p = Project::new();
    p.dockerfile("a", "FROM alpine\n")
        .dockerfile("b", "FROM alpine\n");
    let mut c = p.ok("images:\n  - name: a\n  - name: b\n").config;
    c.images[0].depends_on = vec!["b".into(), "ghost".into()];
    c.images[1].depends_on = vec!["a".into()];
    let plan = c.plan();
    assert_eq!(plan.order, vec![0, 1]);
    assert_eq!(plan.waves, vec![vec![0, 1]]);
    assert_eq!(c.select(&["a".into()]).unwrap(), vec![0, 1]);
}

#[test]
fn overrides() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n")
        .dockerfile("web", "FROM alpine\n");
    let yaml = "images:\n  - name: base\n  - name: web\n  - name: tools\n    image: alpine:3.20\n";
    let mut c = p.ok(yaml).config;
    c.apply_override("web.tags=a:1, b:2").unwrap();
    c.apply_override("web.args.VERSION=1.2=3").unwrap();
    c.apply_override("web.target=dev").unwrap();
    c.apply_override("web.push=true").unwrap();
    c.apply_override("web.timeout=10m").unwrap();
    c.apply_override("*.no_cache=true").unwrap();
    let web = &c.images[1];
    assert_eq!(web.tags, vec!["a:1", "b:2"]);
    assert_eq!(web.args["VERSION"], "1.2=3");
    assert_eq!(web.target.as_deref(), Some("dev"));
    assert!(web.push && web.no_cache && c.images[0].no_cache);
    assert_eq!(web.timeout, Duration::from_secs(600));
    c.apply_override("web.target=").unwrap();
    assert_eq!(c.images[1].target, None);

    let before = c.clone();
    assert_eq!(
        c.apply_override("wbe.push=true").unwrap_err(),
        "--set wbe.push: unknown image 'wbe' — did you mean 'web'?"
    );
    assert_eq!(
        c.apply_override("web.tagz=x").unwrap_err(),
        "--set web.tagz: unknown field 'tagz' — did you mean 'tags'?"
    );
    assert_eq!(
        c.apply_override("web.push=maybe").unwrap_err(),
        "--set web.push: expected true or false, got 'maybe'"
    );
    assert!(c
        .apply_override("web.timeout=5x")
        .unwrap_err()
        .contains("invalid duration '5x'"));
    assert!(c
        .apply_override("nonsense")
        .unwrap_err()
        .contains("expected IMAGE.FIELD=VALUE"));
    assert!(c
        .apply_override("web.args=1")
        .unwrap_err()
        .contains("args.KEY=VALUE"));
    assert!(c
        .apply_override("tools.dockerfile=x")
        .unwrap_err()
        .contains("prebuilt"));
    assert_eq!(c, before);

    // Changing the Dockerfile re-infers dependencies, and refuses cycles.
    p.dockerfile("web", "FROM alpine\n");
    fs::write(p.dir().join("web/Dockerfile.dev"), "FROM base\n").unwrap();
    fs::write(p.dir().join("base/Dockerfile.dev"), "FROM a:1\n").unwrap();
    c.apply_override("web.dockerfile=Dockerfile.dev").unwrap();
    assert_eq!(c.images[1].inferred_depends_on, vec!["base"]);
    let err = c
        .apply_override("base.dockerfile=Dockerfile.dev")
        .unwrap_err();
    assert!(
        err.contains("dependency cycle: base -> web -> base"),
        "{err}"
    );
}

#[test]
fn merge_keys_and_aliases_work() {
    let p = Project::new();
    p.dockerfile("a", "FROM alpine\n")
        .dockerfile("b", "FROM alpine\n");
    let yaml = "\
x-common: &common
  push: true
  timeout: 5m
images:
  - name: a
    <<: *common
  - <<: *common
    name: b
    tags: &t [b:1]
";
    let c = p.ok(yaml).config;
    assert!(c
        .images
        .iter()
        .all(|i| i.push && i.timeout == Duration::from_secs(300)));
    // An error inside merged defaults is reported where it is written,
    // once however many images merge it.
    let yaml = "x-bad: &bad\n  timeout: nope\nimages:\n  - name: a\n    <<: *bad\n  - name: b\n    <<: *bad\n";
    let errs = p.errors(yaml);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("2:12: timeout: invalid duration 'nope'"),
        "{errs:?}"
    );
}

/// A merge key inside an anchor (defaults built on other defaults) is
/// resolved, not left behind as a field named `<<`; the image's own keys
/// win, then the merged mappings in order.
#[test]
fn merge_keys_inside_anchors_are_resolved() {
    let p = Project::new();
    p.dockerfile("a", "FROM alpine\n");
    let yaml = "\
x-args: &args
  A: \"1\"
  B: \"1\"
x-base: &base
  timeout: 5m
  args:
    <<: *args
    B: \"2\"
x-more: &more
  <<: *base
  push: true
images:
  - name: a
    <<: [*more, {timeout: 9m, target: t}]
    timeout: 7m
";
    let c = p.ok(yaml).config;
    let a = &c.images[0];
    assert!(a.push);
    assert_eq!(a.timeout, Duration::from_secs(7 * 60));
    assert_eq!(a.target.as_deref(), Some("t"));
    let args: Vec<(&str, &str)> = a
        .args
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(args, [("A", "1"), ("B", "2")]);
    let errs =
        p.errors("x-x: &x {push: maybe}\nx-y: &y\n  <<: *x\nimages:\n  - name: a\n    <<: *y\n");
    assert_eq!(errs, ["1:16: 'push' must be true or false"]);
    let errs = p.errors("images:\n  - name: a\n    <<: 3\n");
    assert_eq!(
        errs,
        ["3:9: a merge key '<<' takes a mapping or a list of mappings (an alias like *defaults)"]
    );
}

#[test]
fn garbage_never_panics() {
    let p = Project::new();
    let deep_seq = "[".repeat(10_000) + &"]".repeat(10_000);
    let deep_map = "{a: ".repeat(5_000) + &"}".repeat(5_000);
    let deep_block: String = (0..300)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let nasty: Vec<String> = vec![
        "\t".into(),
        "images:\n\t- name: a".into(),
        "[".into(),
        "{a: [}".into(),
        "images: [".into(),
        "*x".into(),
        "a: *x".into(),
        "a: &x [*x]".into(),
        "images: &x\n  - *x\n".into(),
        "images:\n  - &e {name: a, depends_on: [a]}\n  - *e\n".into(),
        "? [a]\n: b\n".into(),
        "images:\n  - ? {x: 1}\n    : y\n".into(),
        "images:\n  - name: !!binary aGk=\n".into(),
        "images:\n  - name: !custom x\n    tags: !t [a]\n".into(),
        "---\na: 1\n---\nb: 2\n".into(),
        "%YAML 1.2\n---\nimages: ~\n".into(),
        "images:\n  - name: a\n    context: \"\\u0000\"\n".into(),
        "images:\n  - name: ${\n".into(),
        "images:\n  - name: \"${A:-${B:-${C\"\n".into(),
        "images:\n  - name: a\n    shm_size: 99999999999999999999999g\n    timeout: -1\n    jobs: 1e400\n".into(),
        "defaults: {jobs: -3, stall_after: .inf, builder: [x]}\nimages: [{name: a}]\n".into(),
        "images: [{name: a, depends_on: {x: y}}, {name: b, depends_on: [[a]]}]".into(),
        "\u{feff}images:\n  - name: a\n".into(),
        "'".into(),
        "\"\\".into(),
        "images:\n  - name: a\n    args: {1: 2, null: ~, [x]: y}\n".into(),
        deep_seq,
        deep_map,
        deep_block,
    ];
    for text in &nasty {
        let path = p.write(text);
        let _ = load(&path, &no_env);
    }
    let binary: Vec<u8> = (0u8..=255).cycle().take(4096).collect();
    let path = p.dir().join("kiln.yaml");
    fs::write(&path, &binary).unwrap();
    assert!(load(&path, &no_env).is_err());
    fs::write(&path, b"images:\n  - name: a\n\x00\x01\x02").unwrap();
    assert!(load(&path, &no_env).is_err());
    assert!(load(&p.dir().join("missing.yaml"), &no_env).is_err());
}

#[test]
fn git_context_skips_file_checks() {
    let p = Project::new();
    let yaml = "images:\n  - name: r\n    context: git@github.com:me/r.git\n    dockerfile: nope/Dockerfile\n";
    let c = p.ok(yaml).config;
    assert!(
        matches!(&c.images[0].source, Source::Build { context: ContextSource::Git(g), dockerfile: Dockerfile::Path(d) } if g == "git@github.com:me/r.git" && d == "nope/Dockerfile")
    );
}

#[test]
fn public_unit_helpers() {
    assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert_eq!(parse_size("1k"), Ok(1024));
    assert_eq!(format_duration(Duration::from_secs(72)), "1m12s");
    let args: BTreeMap<String, String> = [("V".to_string(), "2".to_string())].into();
    assert_eq!(
        dockerfile_refs(
            "ARG V=1\nFROM base:$V AS b\nCOPY --from=b / /\n",
            &args,
            None
        ),
        vec!["base:2"]
    );
}

#[test]
fn a_declared_dependency_the_dockerfile_never_uses_is_a_warning() {
    let p = Project::new();
    p.dockerfile("base", "FROM scratch\n")
        .dockerfile("web", "FROM base:latest\n")
        .dockerfile("tool", "FROM scratch\n");
    let loaded = p.ok(
        "images:\n  - name: base\n  - name: web\n    depends_on: [base]\n  - name: tool\n    depends_on: [base]\n",
    );
    let warnings: Vec<String> = loaded
        .warnings
        .iter()
        .map(|w| format!("{}:{}: {}", w.line, w.col, w.message))
        .collect();
    // web's FROM uses base's tag: consistent. tool's Dockerfile does not.
    assert_eq!(
        warnings,
        vec!["6:18: 'tool' depends on 'base', but its Dockerfile does not use any of base's tags (base:latest); the dependency only orders the builds"]
    );
}

#[test]
fn tags_and_references_follow_dockers_grammar() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    let digest = "a".repeat(64);
    let yaml = format!(
        "\
images:
  - name: base
    tags: [Base:1, \"a//b\", \"ok:{long}\", \"web@sha256:{digest}\", good/name:1]
    cache_from: [\"UPPER/x\", \"cache@sha256:{digest}\", \"bad cache\"]
  - name: tools
    image: \"Alpine:3\"
",
        long = "t".repeat(129)
    );
    let errs = p.errors(&yaml);
    assert_eq!(errs.len(), 6, "{errs:#?}");
    assert_eq!(
        errs[0],
        "3:12: invalid tag 'Base:1': the repository name must be lowercase"
    );
    assert!(
        errs[1].starts_with("3:20: invalid tag 'a//b': not a valid image reference"),
        "{}",
        errs[1]
    );
    assert!(
        errs[2].starts_with("3:28: invalid tag 'ok:ttt"),
        "{}",
        errs[2]
    );
    assert!(
        errs[3].contains("a tag cannot carry a digest"),
        "{}",
        errs[3]
    );
    assert!(
        errs[4].starts_with("4:110: invalid cache_from image 'bad cache'"),
        "{}",
        errs[4]
    );
    assert_eq!(
        errs[5],
        "6:12: invalid image reference 'Alpine:3': the repository name must be lowercase"
    );
    // `UPPER/x` is a valid reference (an uppercase first part is a host).
    let mut c = p
        .ok("images:\n  - {name: base, tags: [\"base:1\"]}\n")
        .config;
    let err = c.apply_override("base.tags=ok:1,Bad:2").unwrap_err();
    assert!(
        err.contains("invalid tag 'Bad:2': the repository name must be lowercase"),
        "{err}"
    );
    assert_eq!(c.images[0].tags, vec!["base:1"], "refused: unchanged");
}

/// `kiln check` and `kiln build` refuse an invalid tag with exit 2 and its
/// position, before anything runs: even with no daemon to reach (which
/// would be exit 3), and never as a BuildKit fallback.
#[test]
fn an_invalid_tag_stops_check_and_build_before_anything_runs() {
    let p = Project::new();
    p.dockerfile("base", "FROM scratch\n");
    let file = p.write("images:\n  - name: base\n    tags: [\"Base:1\"]\n");
    for args in [&["check"][..], &["build", "--plain"], &["build", "--json"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("-f")
            .arg(&file)
            .args(args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env("XDG_DATA_HOME", p.dir().join("data"))
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(2), "{args:?}: {text}");
        assert!(
            text.contains(&format!("{}:3:12: invalid tag 'Base:1'", file.display())),
            "{args:?}: {text}"
        );
        assert!(!text.contains("BuildKit"), "{text}");
    }
}

#[test]
fn deep_nesting_is_refused_at_once() {
    let p = Project::new();
    p.dockerfile("base", "FROM alpine\n");
    for deep in [
        format!(
            "images:\n  - name: base\n    args: {{A: {}}}\n",
            "[".repeat(100_000)
        ),
        format!(
            "images:\n  - name: base\n    args: {}\n",
            "{a: ".repeat(100_000)
        ),
        format!(
            "images:\n  - name: base\n    args:\n{}",
            (0..100)
                .map(|i| format!("{}- x:\n", " ".repeat(6 + 2 * i)))
                .collect::<String>()
        ),
    ] {
        let errs = p.errors(&deep);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(
            errs[0].ends_with(": YAML nested deeper than 64 levels"),
            "{}",
            errs[0]
        );
    }
    // A compose file, by name and by content: the same.
    for name in ["compose.yaml", "stack.yaml"] {
        let file = p.dir().join(name);
        fs::write(
            &file,
            format!("services:\n  web:\n    labels: {}\n", "[".repeat(100_000)),
        )
        .unwrap();
        let env = |_: &str| None;
        let Err(LoadError::Config(errs)) = load_stack(&[file], &ComposeOptions::default(), &env)
        else {
            panic!("{name}: expected a config error");
        };
        assert!(
            errs.errors[0]
                .message
                .contains("YAML nested deeper than 64 levels"),
            "{name}: {errs}"
        );
    }
    // 60 levels are only YAML: the schema says what is wrong with them.
    let errs = p.errors(&format!(
        "images:\n  - name: base\n    args: {{A: {}{}}}\n",
        "[".repeat(60),
        "]".repeat(60)
    ));
    assert!(errs[0].contains("'args.A' must be a string"), "{errs:?}");
}

/// Each `--set` error names the override once, and its value once.
#[test]
fn set_errors_say_each_thing_once() {
    let p = Project::new();
    p.dockerfile("sec", "FROM scratch\n");
    let file = p.write("images:\n  - name: sec\n");
    for (spec, says) in [
        (
            "sec.timeout=XYZ",
            "kiln: error: --set sec.timeout: invalid duration 'XYZ'",
        ),
        (
            "sec.push=XYZ",
            "kiln: error: --set sec.push: expected true or false, got 'XYZ'",
        ),
        ("XYZ", "kiln: error: --set XYZ: expected IMAGE.FIELD=VALUE"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kiln"))
            .arg("-f")
            .arg(&file)
            .args(["build", "--set", spec])
            .env("XDG_DATA_HOME", p.dir().join("data"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.starts_with(says), "{err}");
        assert_eq!(
            err.matches("--set").count() - err.matches("e.g. --set").count(),
            1,
            "{err}"
        );
        assert_eq!(err.matches("XYZ").count(), 1, "{err}");
    }
}

/// What a YAML parser only hints at is said: a tab as the cause, the
/// position of a duplicate key (not of its mapping).
#[test]
fn tabs_and_duplicate_keys_are_located_and_named() {
    let p = Project::new();
    p.dockerfile("a", "FROM scratch\n");
    let errs = p.errors("images:\n\t- {name: a}\n");
    assert!(errs[0].starts_with("2:1: "), "{errs:?}");
    assert!(errs[0].contains("a tab"), "{errs:?}");
    let errs = p.errors("images:\n  - name: a\nimages:\n  - name: b\n");
    assert!(errs[0].starts_with("3:1: "), "{errs:?}");
    assert!(
        errs[0].contains("duplicate entry with key \"images\""),
        "{errs:?}"
    );
    let errs = p.errors("images:\n  - name: a\n    context: a\n    context: b\n");
    assert!(errs[0].starts_with("4:5: "), "{errs:?}");
}

/// Contexts are joined to the file's directory without `./` piling up.
#[test]
fn context_paths_are_clean() {
    let p = Project::new();
    p.dockerfile("sub/ctx2", "FROM scratch\n");
    let file = p.dir().join(".").join("kiln.yaml");
    fs::write(&file, "images:\n  - {name: a, context: ./sub/ctx2}\n").unwrap();
    let c = load(&file, &no_env).unwrap().config;
    let Source::Build {
        context: ContextSource::Dir(dir),
        ..
    } = &c.images[0].source
    else {
        panic!("a directory context");
    };
    assert_eq!(dir, &p.dir().join("sub/ctx2"));
    assert!(!dir.to_string_lossy().contains("/./"), "{}", dir.display());
}

/// `push_tags`: an entry's own choose among its tags (a name or a `*`
/// pattern; one that chooses none is a typo, located); under `defaults:`
/// a pattern may choose none of an image's tags (it pushes nothing); the
/// default is every tag; compose takes it under `x-kiln:`.
#[test]
fn push_tags_choose_among_the_images_tags() {
    let p = Project::new();
    p.dockerfile("api", "FROM scratch\n");
    p.dockerfile("base", "FROM scratch\n");
    let errs = p.errors(
        "images:\n  - name: api\n    tags: [nu/api:latest, \"127.0.0.1:5000/nu/api:1\"]\n    push_tags: [\"127.0.0.1:5000/*\", nu/api:1]\n",
    );
    assert_eq!(
        errs,
        vec!["4:37: push_tags: 'nu/api:1' is none of the image's tags (nu/api:latest, 127.0.0.1:5000/nu/api:1); name one of them, or use * as in 'localhost:5000/*'"]
    );
    let c = p
        .ok("defaults:\n  push_tags: [\"127.0.0.1:5000/*\"]\nimages:\n  - name: api\n    tags: [nu/api:latest, \"127.0.0.1:5000/nu/api:1\"]\n  - name: base\n")
        .config;
    assert_eq!(c.images[0].push_tags, vec!["127.0.0.1:5000/*"]);
    assert_eq!(
        push_tags_of(&c.images[0].tags, &c.images[0].push_tags),
        vec!["127.0.0.1:5000/nu/api:1"]
    );
    assert!(push_tags_of(&c.images[1].tags, &c.images[1].push_tags).is_empty());
    let c = p.ok("images:\n  - name: api\n").config;
    assert_eq!(
        push_tags_of(&c.images[0].tags, &c.images[0].push_tags),
        vec!["api:latest"]
    );
}

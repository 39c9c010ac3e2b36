//! The table of image fields (`config::fields`) drives every place that
//! takes a field: each row is tried where the table says it may be
//! written — a kiln.yaml entry, `defaults:`, an `image:` entry, `--set`, a
//! compose service's `build:`, the service itself, `x-kiln:` — and must be
//! accepted there and land in the image (or be refused where the table
//! says it is not taken). A field added to the table but forgotten by one
//! of its readers fails here.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::path::{Path, PathBuf};

use kiln::config::fields::{self, Change, Compose, Entry, Field, Kind, FIELDS};
use kiln::config::*;

#[path = "common/schema.rs"]
mod schema;

fn no_env(_: &str) -> Option<String> {
    None
}

/// A directory with two contexts (`web`, `other`) and a second Dockerfile
/// in `web`.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for ctx in ["web", "other"] {
        fs::create_dir_all(dir.path().join(ctx)).unwrap();
        fs::write(dir.path().join(ctx).join("Dockerfile"), "FROM scratch\n").unwrap();
    }
    fs::write(dir.path().join("web/Dockerfile.alt"), "FROM scratch\n").unwrap();
    dir
}

/// A value for `field` in YAML's flow style, not the field's default.
fn sample(field: &Field) -> String {
    match (field.name, field.kind) {
        ("context" | "from", _) => "./other".into(),
        ("dockerfile", _) => "Dockerfile.alt".into(),
        ("image", _) => "alpine:3.20".into(),
        ("depends_on", _) => "[other]".into(),
        ("extra_hosts", _) => "[\"db:10.0.0.1\"]".into(),
        ("engine", _) => "big".into(),
        // One of web's tags (web:latest), as an entry's push_tags must be.
        ("push_tags", _) => "[\"web:*\"]".into(),
        (_, Kind::Name | Kind::Text) => "linux/arm64".into(),
        (_, Kind::Flag) => "true".into(),
        (_, Kind::Duration) => "7m".into(),
        (_, Kind::Size) => "2m".into(),
        (_, Kind::Count) => "3".into(),
        (_, Kind::Choice(words)) => words[words.len() - 1].into(),
        (_, Kind::List) => "[\"a:1\"]".into(),
        (_, Kind::Map) => "{K: v}".into(),
        // Files of the project (a secret's file and a key file need only
        // exist to load).
        (_, Kind::Secrets) => "[{id: tok, src: ./web/Dockerfile.alt}]".into(),
        (_, Kind::Ssh) => "[{id: deploy, paths: [./web/Dockerfile.alt]}]".into(),
    }
}

/// A sample value for `field` in a compose file's `build:`, and what the
/// top level needs beside it.
fn compose_sample(field: &Field) -> (String, &'static str) {
    match field.kind {
        Kind::Secrets => (
            "[tok]".into(),
            "secrets:\n  tok:\n    file: ./web/Dockerfile.alt\n",
        ),
        Kind::Ssh => ("[deploy=./web/Dockerfile.alt]".into(), ""),
        _ => (sample(field), ""),
    }
}

fn load_yaml(dir: &Path, yaml: &str) -> Result<Loaded, ConfigErrors> {
    let path = dir.join("kiln.yaml");
    fs::write(&path, yaml).unwrap();
    load(&path, &no_env)
}

fn loaded(dir: &Path, yaml: &str) -> Config {
    match load_yaml(dir, yaml) {
        Ok(l) => l.config,
        Err(e) => panic!("{yaml}\n{e}"),
    }
}

fn web(config: &Config) -> &ImageConfig {
    &config.images[config.index_of("web").unwrap()]
}

const PLAIN: &str = "images:\n  - name: web\n  - name: other\n";

/// The engines an `engine:` pin needs (kiln.yaml).
fn engines_for(field: &Field) -> &'static str {
    match field.name {
        "engine" => "engines:\n  - {name: big, host: \"unix:///run/big.sock\"}\n",
        _ => "",
    }
}

#[test]
fn every_entry_field_is_read_into_the_image() {
    let dir = project();
    let plain = loaded(dir.path(), PLAIN);
    for field in FIELDS
        .iter()
        .filter(|f| f.entry != Entry::No && !f.required)
    {
        let (head, entry) = match field.entry {
            Entry::OlderLayout => ("builder:\n  images:\n", "  "),
            _ => ("images:\n", ""),
        };
        let yaml = format!(
            "{}{head}{entry}  - name: web\n{entry}    {}: {}\n{entry}  - name: other\n",
            engines_for(field),
            field.name,
            sample(field)
        );
        let config = loaded(dir.path(), &yaml);
        if let Some(before) = web(&plain).get(field.name) {
            let after = web(&config).get(field.name);
            assert_ne!(after, Some(before), "{}: {yaml}", field.name);
        } else {
            assert_ne!(web(&config), web(&plain), "{}: {yaml}", field.name);
        }
    }
}

#[test]
fn an_image_entry_refuses_exactly_the_fields_the_table_says() {
    let dir = project();
    for field in FIELDS.iter().filter(|f| f.entry != Entry::No) {
        if ["name", "image"].contains(&field.name) {
            continue;
        }
        let layout = match field.entry {
            Entry::OlderLayout => "builder:\n  images:\n",
            _ => "images:\n",
        };
        let yaml = format!(
            "{layout}  - name: tools\n    image: alpine:3.20\n    {}: {}\n  - name: other\n",
            field.name,
            sample(field)
        );
        let refused = format!("'{}' cannot be used with 'image'", field.name);
        match (load_yaml(dir.path(), &yaml), field.prebuilt) {
            (Ok(_), true) => {}
            (Err(e), false) => assert!(e.to_string().contains(&refused), "{e}"),
            (got, _) => panic!("{}: {:?}", field.name, got.map(|l| l.config)),
        }
    }
}

#[test]
fn defaults_take_their_column_and_apply_under_every_image() {
    let dir = project();
    let plain = loaded(dir.path(), PLAIN);
    for field in fields::defaults() {
        let yaml = format!("defaults:\n  {}: {}\n{PLAIN}", field.name, sample(field));
        let config = loaded(dir.path(), &yaml);
        if field.entry == Entry::No {
            assert_ne!(config.jobs, plain.jobs, "{}", field.name);
            continue;
        }
        for name in ["web", "other"] {
            let i = config.index_of(name).unwrap();
            let (now, before) = (&config.images[i], &plain.images[i]);
            assert!(now.get(field.name).is_some(), "{}", field.name);
            assert_ne!(
                now.get(field.name),
                before.get(field.name),
                "{}",
                field.name
            );
        }
    }
    // And nothing else.
    let errors = load_yaml(dir.path(), &format!("defaults:\n  zzzzzz: 1\n{PLAIN}"))
        .unwrap_err()
        .to_string();
    let listed: Vec<&str> = fields::defaults().iter().map(|f| f.name).collect();
    assert!(
        errors.ends_with(&format!("(valid fields: {})", listed.join(", "))),
        "{errors}"
    );
}

/// `kiln schema` (generated from the table) and the loader agree: every
/// field where the table puts it validates, and a misspelt key or a word
/// outside a choice, refused by the loader, is flagged by the schema too,
/// as an editor would flag it.
#[test]
fn the_schema_takes_what_the_loader_takes_and_flags_what_it_refuses() {
    let dir = project();
    let mut good = vec![PLAIN.to_string()];
    for field in FIELDS
        .iter()
        .filter(|f| f.entry != Entry::No && !f.required)
    {
        let (head, entry) = match field.entry {
            Entry::OlderLayout => ("builder:\n  images:\n", "  "),
            _ => ("images:\n", ""),
        };
        good.push(format!(
            "{}{head}{entry}  - name: web\n{entry}    {}: {}\n{entry}  - name: other\n",
            engines_for(field),
            field.name,
            sample(field)
        ));
    }
    for field in fields::defaults() {
        good.push(format!(
            "defaults:\n  {}: {}\n{PLAIN}",
            field.name,
            sample(field)
        ));
    }
    good.push(format!("x-anything: {{a: 1}}\n{PLAIN}"));
    good.push(format!(
        "engines:\n  - {{name: a, host: \"tcp://h:1\", jobs: 3, tls: ./certs}}\n  - {{name: b, host: ctx}}\ncollect: false\n{PLAIN}"
    ));
    let bad: Vec<String> = [
        "imagse:\n  - name: web\n",
        "images:\n  - name: web\n    dockerfiel: Dockerfile.alt\n",
        "defaults:\n  platfrom: linux/arm64\nimages:\n  - name: web\n",
        "builder:\n  images:\n    - name: web\n  extra: 1\n",
        "images:\n  - name: web\n    builder: fast\n",
        "images:\n  - context: ./web\n",
        "images: []\n",
        "engines:\n  - {name: a, host: \"unix:///x\", hots: 1}\nimages:\n  - name: web\n",
        "engines:\n  - {host: \"unix:///x\"}\nimages:\n  - name: web\n",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for yaml in &good {
        loaded(dir.path(), yaml);
    }
    for yaml in &bad {
        assert!(
            load_yaml(dir.path(), yaml).is_err(),
            "the loader took:\n{yaml}"
        );
    }
    let docs: Vec<String> = good.iter().chain(&bad).cloned().collect();
    let complaints = schema::complaints(&fields::json_schema(), &docs);
    for (yaml, found) in docs.iter().zip(&complaints) {
        let want_valid = good.contains(yaml);
        assert_eq!(found.is_empty(), want_valid, "{yaml}{found:?}");
    }
}

/// `--set`'s spelling of a sample value for `field`.
fn set_sample(field: &Field) -> String {
    match field.kind {
        Kind::Map => format!("{}.K=v", field.name),
        Kind::List => format!("{}=a:1", field.name),
        Kind::Text if field.name == "dockerfile" => "dockerfile=Dockerfile.alt".into(),
        _ => format!(
            "{}={}",
            field.name,
            sample(field).trim_matches(|c| c == '[' || c == ']' || c == '"')
        ),
    }
}

#[test]
fn set_takes_every_settable_field_and_lists_them() {
    let dir = project();
    let plain = loaded(dir.path(), PLAIN);
    for field in fields::settable() {
        let mut config = plain.clone();
        let spec = format!("web.{}", set_sample(field));
        config
            .apply_override(&spec)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(web(&config), web(&plain), "{spec}");
        if let Some(before) = web(&plain).get(field.name) {
            assert_ne!(web(&config).get(field.name), Some(before), "{spec}");
        }
    }
    let err = plain.clone().apply_override("web.zzzzzz=1").unwrap_err();
    let listed: Vec<String> = fields::settable()
        .iter()
        .map(|f| match f.kind {
            Kind::Map => format!("{}.KEY", f.name),
            _ => f.name.to_string(),
        })
        .collect();
    assert!(
        err.ends_with(&format!("(fields: {})", listed.join(", "))),
        "{err}"
    );
}

fn compose(dir: &Path, yaml: &str) -> Config {
    let path: PathBuf = dir.join("compose.yaml");
    fs::write(&path, yaml).unwrap();
    match load_stack(&[path], &ComposeOptions::default(), &no_env) {
        Ok(l) => l.config,
        Err(e) => panic!("{yaml}\n{e}"),
    }
}

#[test]
fn compose_reads_every_field_where_the_table_says() {
    let dir = project();
    let services = "services:\n  other:\n    build: ./other\n  web:\n";
    let plain = compose(
        dir.path(),
        &format!("{services}    build:\n      context: ./web\n"),
    );
    let mut seen = 0;
    for field in FIELDS {
        let yaml = match field.compose {
            Compose::No => continue,
            Compose::Build("context") => continue,
            Compose::Build(key) => {
                let (value, top) = compose_sample(field);
                format!("{top}{services}    build:\n      context: ./web\n      {key}: {value}\n")
            }
            Compose::Service(key) => format!(
                "{services}    build:\n      context: ./web\n    {key}: {}\n",
                sample(field)
            ),
            Compose::XKiln if field.entry == Entry::No => format!(
                "x-kiln:\n  {}: {}\n{services}    build: ./web\n",
                field.name,
                sample(field)
            ),
            Compose::XKiln => format!(
                "{}{services}    build: ./web\n    x-kiln:\n      {}: {}\n",
                match field.name {
                    "engine" =>
                        "x-kiln:\n  engines:\n    - {name: big, host: \"unix:///run/big.sock\"}\n",
                    _ => "",
                },
                field.name,
                sample(field)
            ),
        };
        seen += 1;
        let config = compose(dir.path(), &yaml);
        if field.entry == Entry::No {
            assert_ne!(config.jobs, plain.jobs, "{yaml}");
        } else {
            assert_ne!(web(&config), web(&plain), "{}: {yaml}", field.name);
        }
    }
    assert!(seen > 10, "{seen}");
}

#[test]
fn every_field_counts_for_change_detection_or_says_why_not() {
    let dir = project();
    let config = loaded(dir.path(), PLAIN);
    for field in FIELDS {
        match field.change {
            Change::Counts | Change::Hashed => {
                assert!(web(&config).get(field.name).is_some(), "{}", field.name)
            }
            Change::Own(how) => assert!(!how.is_empty(), "{}", field.name),
            Change::Not(why) => assert!(!why.is_empty(), "{}", field.name),
        }
    }
}

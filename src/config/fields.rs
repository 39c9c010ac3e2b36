//! The fields of an image, in one table: what each one is, where a stack
//! file may give it, whether `--set` takes it, what a compose file calls
//! it, and whether change detection counts it.
//!
//! Every place that lists fields reads this table: the keys kiln.yaml
//! accepts in an image entry and under `defaults:` (`schema/`), the fields
//! an `image:` entry refuses, `--set` (`overrides.rs`), the keys of a
//! compose service's `x-kiln:` and the `build:` keys kiln reads
//! (`compose/`), the parts of a build's inputs (`engine/inputs.rs`), and
//! the JSON Schema of kiln.yaml ([`json_schema`]). A field's value lands in
//! [`ImageConfig`](super::ImageConfig) (`values.rs` puts it there by name).
//!
//! Data only: no I/O, nothing read here.

use serde_json::{json, Map, Value};

/// What a field's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An image name: `[a-z0-9][a-z0-9_.-]*`.
    Name,
    /// A string.
    Text,
    /// `true` or `false`.
    Flag,
    /// `500ms`, `90s`, `2m`, `1h30m`, or a number of seconds.
    Duration,
    /// `64m`, `1g`, `512k`, or a number of bytes.
    Size,
    /// A whole number, at least 1.
    Count,
    /// One of these words (case-insensitive).
    Choice(&'static [&'static str]),
    /// A list of strings.
    List,
    /// A mapping of names to strings (numbers and booleans are written as
    /// text).
    Map,
    /// Build secrets: a list of `{id, src: FILE}` or `{id, env: VAR}`
    /// (compose: `build.secrets` naming the top-level `secrets:`).
    Secrets,
    /// SSH agents: a list of `default` (or another id: `$SSH_AUTH_SOCK`)
    /// or `{id, paths: [KEY or SOCKET...]}` (compose: `build.ssh`).
    Ssh,
}

/// Where an image entry of kiln.yaml takes the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// Not in an image entry (a setting of the whole stack).
    No,
    /// In every image entry.
    Yes,
    /// Only in the older layout's entries (`builder: {images: [...]}`).
    OlderLayout,
}

/// Where a compose file gives the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    /// Nowhere.
    No,
    /// This key of a service's long-form `build:`.
    Build(&'static str),
    /// This key of the service itself.
    Service(&'static str),
    /// The field of the same name under `x-kiln:` (a service's, or, for a
    /// setting of the whole stack, the top level's).
    XKiln,
}

/// Whether change detection counts the field (`engine/inputs.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A part of the build's inputs, under the field's name.
    Counts,
    /// A part of the inputs as a hash only: its values may be secrets.
    Hashed,
    /// Counted in a way of its own, said here.
    Own(&'static str),
    /// Not an input of the build, and why.
    Not(&'static str),
}

/// One field of an image (or of the whole stack, under `defaults:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The key, in kiln.yaml and in `--set IMAGE.FIELD=VALUE`.
    pub name: &'static str,
    pub kind: Kind,
    /// One line for people (the JSON Schema's description).
    pub about: &'static str,
    /// Whether an image entry must have it.
    pub required: bool,
    pub entry: Entry,
    /// Under `defaults:` (applied under every image), at this place of
    /// the list messages give of the fields `defaults:` takes.
    pub defaults: Option<u8>,
    /// Whether an `image:` entry (prebuilt, never built) may have it.
    pub prebuilt: bool,
    /// Settable with `--set`, at this place of the list its messages give.
    pub set: Option<u8>,
    pub compose: Compose,
    pub change: Change,
}

/// Builds a row: every column but the name, kind and description starts
/// as "not there", and each row says what it has.
const fn row(name: &'static str, kind: Kind, about: &'static str) -> Field {
    Field {
        name,
        kind,
        about,
        required: false,
        entry: Entry::Yes,
        defaults: None,
        prebuilt: false,
        set: None,
        compose: Compose::No,
        change: Change::Not("where the build runs, not what it is made of"),
    }
}

/// Docker's builders, as `builder:` names them.
pub const BUILDERS: &[&str] = &["auto", "buildkit", "legacy"];

/// Every field, in the order kiln.yaml's messages list an image entry's.
pub const FIELDS: &[Field] = &[
    Field {
        required: true,
        prebuilt: true,
        change: Change::Not("it names the image; its tags count"),
        ..row("name", Kind::Name, "The image's name, unique in the stack")
    },
    Field {
        entry: Entry::OlderLayout,
        change: Change::Own("the context's files, digested"),
        ..row(
            "from",
            Kind::Text,
            "The build context: the older layout's name for 'context'",
        )
    },
    Field {
        compose: Compose::Build("context"),
        change: Change::Own("the context's files, digested"),
        ..row(
            "context",
            Kind::Text,
            "The build context: a directory (default ./NAME) or a git URL",
        )
    },
    Field {
        set: Some(11),
        compose: Compose::Build("dockerfile"),
        change: Change::Own("its name in the context, and its text as a file of it"),
        ..row(
            "dockerfile",
            Kind::Text,
            "The Dockerfile, relative to the context (default Dockerfile)",
        )
    },
    Field {
        prebuilt: true,
        compose: Compose::Service("image"),
        change: Change::Not("a prebuilt image is never built"),
        ..row(
            "image",
            Kind::Text,
            "A prebuilt image, used as it is and never built",
        )
    },
    Field {
        prebuilt: true,
        set: Some(0),
        compose: Compose::Build("tags"),
        change: Change::Counts,
        ..row(
            "tags",
            Kind::List,
            "The tags of the image (default NAME:latest)",
        )
    },
    Field {
        defaults: Some(9),
        set: Some(1),
        compose: Compose::Build("args"),
        change: Change::Hashed,
        ..row("args", Kind::Map, "Build args, over those of defaults")
    },
    Field {
        set: Some(3),
        compose: Compose::Build("target"),
        change: Change::Counts,
        ..row("target", Kind::Text, "The Dockerfile stage to build")
    },
    Field {
        defaults: Some(10),
        set: Some(2),
        compose: Compose::Build("labels"),
        change: Change::Counts,
        ..row(
            "labels",
            Kind::Map,
            "Labels of the image, over those of defaults",
        )
    },
    Field {
        compose: Compose::Build("cache_from"),
        change: Change::Not("where the cache comes from does not change what is built"),
        ..row(
            "cache_from",
            Kind::List,
            "Images the build may take cached steps from",
        )
    },
    Field {
        prebuilt: true,
        compose: Compose::Service("depends_on"),
        change: Change::Not("the images it builds on count by their ids"),
        ..row(
            "depends_on",
            Kind::List,
            "Images of the stack to build first (also inferred from the Dockerfile)",
        )
    },
    Field {
        defaults: Some(5),
        set: Some(6),
        compose: Compose::Build("no_cache"),
        change: Change::Not("a build without the cache is never skipped"),
        ..row("no_cache", Kind::Flag, "Build without the daemon's cache")
    },
    Field {
        defaults: Some(6),
        prebuilt: true,
        set: Some(7),
        compose: Compose::Build("pull"),
        change: Change::Not("the registries' digests are compared on their own"),
        ..row(
            "pull",
            Kind::Flag,
            "Pull the base images (a prebuilt image: pull it) before building",
        )
    },
    Field {
        defaults: Some(7),
        set: Some(5),
        compose: Compose::Build("network"),
        ..row(
            "network",
            Kind::Text,
            "The network of the build's RUN steps",
        )
    },
    Field {
        compose: Compose::XKiln,
        ..row(
            "engine",
            Kind::Name,
            "The engine (of the stack's 'engines:') the image must build on",
        )
    },
    Field {
        compose: Compose::Build("extra_hosts"),
        ..row(
            "extra_hosts",
            Kind::List,
            "HOST:IP lines added to the build's /etc/hosts",
        )
    },
    Field {
        compose: Compose::Build("shm_size"),
        ..row(
            "shm_size",
            Kind::Size,
            "Size of /dev/shm for the build's RUN steps",
        )
    },
    Field {
        defaults: Some(8),
        set: Some(4),
        compose: Compose::Service("platform"),
        change: Change::Counts,
        ..row(
            "platform",
            Kind::Text,
            "The platform to build for (linux/amd64)",
        )
    },
    Field {
        entry: Entry::No,
        defaults: Some(1),
        compose: Compose::XKiln,
        change: Change::Not("a setting of the run"),
        ..row(
            "jobs",
            Kind::Count,
            "How many builds run at once (--jobs wins)",
        )
    },
    Field {
        defaults: Some(2),
        prebuilt: true,
        set: Some(9),
        compose: Compose::XKiln,
        change: Change::Not("a setting of the run"),
        ..row(
            "stall_after",
            Kind::Duration,
            "A build silent this long is stalled",
        )
    },
    Field {
        defaults: Some(3),
        prebuilt: true,
        set: Some(10),
        compose: Compose::XKiln,
        change: Change::Not("a setting of the run"),
        ..row(
            "timeout",
            Kind::Duration,
            "A build still running after this long is cancelled and fails",
        )
    },
    Field {
        defaults: Some(4),
        prebuilt: true,
        set: Some(8),
        compose: Compose::XKiln,
        change: Change::Not("a setting of the run"),
        ..row("push", Kind::Flag, "Push the tags after a successful build")
    },
    Field {
        defaults: Some(13),
        set: Some(12),
        compose: Compose::XKiln,
        change: Change::Not("which tags go to a registry does not change the image"),
        ..row(
            "push_tags",
            Kind::List,
            "The tags a push pushes (p, --push, kiln push): each a tag of the image or a pattern with * (default: every tag)",
        )
    },
    Field {
        defaults: Some(11),
        compose: Compose::Build("secrets"),
        change: Change::Not(
            "the daemon's cache does not key on a secret's content either (a build would reuse its cached steps), and a hash of a short token kept in history could be guessed offline",
        ),
        ..row(
            "secrets",
            Kind::Secrets,
            "Build secrets for RUN --mount=type=secret: {id, src: FILE} or {id, env: VAR}",
        )
    },
    Field {
        defaults: Some(12),
        compose: Compose::Build("ssh"),
        change: Change::Not(
            "an SSH agent is how a build reaches elsewhere, and the daemon's cache does not key on it",
        ),
        ..row(
            "ssh",
            Kind::Ssh,
            "SSH agents for RUN --mount=type=ssh: default ($SSH_AUTH_SOCK) or {id, paths: [KEY...]}",
        )
    },
    Field {
        defaults: Some(0),
        compose: Compose::XKiln,
        change: Change::Not("either builder makes the same image"),
        ..row(
            "builder",
            Kind::Choice(BUILDERS),
            "Docker's builder: BuildKit when the daemon has it (auto), or the one named",
        )
    },
];

/// The row of `name`.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// The keys of an image entry (the older layout's entries also take
/// `from`), in table order.
pub fn entry_keys(older_layout: bool) -> Vec<&'static str> {
    FIELDS
        .iter()
        .filter(|f| f.entry == Entry::Yes || (older_layout && f.entry == Entry::OlderLayout))
        .map(|f| f.name)
        .collect()
}

/// The fields `defaults:` takes, in the order of its column.
pub fn defaults() -> Vec<&'static Field> {
    ranked(|f| f.defaults)
}

/// The fields `--set` takes, in the order of its column.
pub fn settable() -> Vec<&'static Field> {
    ranked(|f| f.set)
}

fn ranked(rank: impl Fn(&Field) -> Option<u8>) -> Vec<&'static Field> {
    let mut fields: Vec<(u8, &'static Field)> = FIELDS
        .iter()
        .filter_map(|f| rank(f).map(|r| (r, f)))
        .collect();
    fields.sort_by_key(|(r, _)| *r);
    fields.into_iter().map(|(_, f)| f).collect()
}

/// The fields a compose file gives under `x-kiln:`: a service's (`top`:
/// false) or the top level's, which also takes the stack's settings.
pub fn xkiln(top: bool) -> Vec<&'static Field> {
    FIELDS
        .iter()
        .filter(|f| f.compose == Compose::XKiln && (top || f.entry != Entry::No))
        .collect()
}

/// The JSON Schema (draft 2020-12) of kiln.yaml, for editors. Values that
/// are not strings may also be written as strings with `${VAR}` in them,
/// which kiln interpolates first.
pub fn json_schema() -> Value {
    let entry = |older: bool| {
        let fields = FIELDS
            .iter()
            .filter(|f| f.entry == Entry::Yes || (older && f.entry == Entry::OlderLayout));
        let required: Vec<&str> = FIELDS
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name)
            .collect();
        let mut schema = object(fields);
        schema["required"] = json!(required);
        schema
    };
    let list = |older: bool| {
        json!({
            "type": "array",
            "minItems": 1,
            "description": "The images of the stack",
            "items": entry(older),
        })
    };
    let mut defaults = object(self::defaults().into_iter());
    defaults["description"] = json!("Applied under every image; an image's own fields win");
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "kiln.yaml",
        "description": "A stack of Docker images for kiln to build",
        "type": "object",
        "properties": {
            "images": list(false),
            "defaults": defaults,
            "engines": crate::config::engines::json_schema(),
            "collect": {
                "type": "boolean",
                "description": "Every built image also ends up on the first engine (default true)",
            },
            "transfer_registry": {
                "type": "string",
                "description": "HOST[:PORT][/PREFIX]: images move between engines through this registry (pushed, pulled by digest) instead of docker save into docker load",
            },
            "builder": {
                "type": "object",
                "description": "The older layout: the image list under builder",
                "properties": {"images": list(true)},
                "required": ["images"],
                "additionalProperties": false,
            },
        },
        "anyOf": [{"required": ["images"]}, {"required": ["builder"]}],
        "patternProperties": {"^x-": {}},
        "additionalProperties": false,
    })
}

/// A mapping that takes `fields` and nothing else.
fn object<'f>(fields: impl Iterator<Item = &'f Field>) -> Value {
    let properties: Map<String, Value> = fields
        .map(|f| {
            let mut schema = kind_schema(f.kind);
            schema["description"] = json!(f.about);
            (f.name.to_string(), schema)
        })
        .collect();
    json!({"type": "object", "properties": properties, "additionalProperties": false})
}

/// What a kind's value looks like, as JSON Schema.
fn kind_schema(kind: Kind) -> Value {
    // A value that is not a string may be written as one to interpolate.
    let interpolated = json!({"type": "string", "pattern": "\\$"});
    match kind {
        Kind::Name => json!({"type": "string", "pattern": "^[a-z0-9][a-z0-9_.-]*$"}),
        Kind::Text => json!({"type": "string"}),
        Kind::Flag => json!({"anyOf": [{"type": "boolean"}, interpolated]}),
        Kind::Duration => json!({
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^\\s*([0-9]+\\s*(ms|s|m|h|MS|S|M|H))+\\s*$|\\$"},
            ],
        }),
        Kind::Size => json!({
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^\\s*[0-9]+(\\.[0-9]+)?\\s*([bkmgBKMG][bB]?)?\\s*$|\\$"},
            ],
        }),
        Kind::Count => json!({"anyOf": [{"type": "integer", "minimum": 1}, interpolated]}),
        Kind::Choice(values) => json!({"type": "string", "enum": values}),
        Kind::List => json!({"type": "array", "items": {"type": "string"}}),
        Kind::Map => json!({
            "type": "object",
            "additionalProperties": {"type": ["string", "number", "boolean"]},
        }),
        Kind::Secrets => json!({
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string", "minLength": 1},
                    "src": {"type": "string", "description": "A file, relative to kiln.yaml"},
                    "env": {"type": "string", "description": "An environment variable"},
                },
                "required": ["id"],
                "oneOf": [{"required": ["src"]}, {"required": ["env"]}],
                "additionalProperties": false,
            },
        }),
        Kind::Ssh => json!({
            "type": "array",
            "items": {
                "anyOf": [
                    {"type": "string", "description": "An id forwarding $SSH_AUTH_SOCK (default)"},
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "string", "minLength": 1},
                            "paths": {
                                "type": "array",
                                "items": {"type": "string"},
                                "description": "Private key files, or one agent socket (none: $SSH_AUTH_SOCK)",
                            },
                        },
                        "required": ["id"],
                        "additionalProperties": false,
                    },
                ],
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_ranks_have_no_gaps() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[..i].iter().all(|g| g.name != f.name),
                "{} twice",
                f.name
            );
        }
        type Rank = fn(&Field) -> Option<u8>;
        let columns: [(Vec<&Field>, Rank); 2] =
            [(defaults(), |f| f.defaults), (settable(), |f| f.set)];
        for (column, rank) in columns {
            assert!(!column.is_empty());
            for (want, f) in column.iter().enumerate() {
                assert_eq!(rank(f), u8::try_from(want).ok(), "{}", f.name);
            }
        }
    }

    #[test]
    fn the_schema_takes_each_place_s_fields() {
        let schema = json_schema();
        let image = &schema["properties"]["images"]["items"];
        let keys = |v: &Value| -> Vec<String> {
            v["properties"]
                .as_object()
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut want: Vec<String> = entry_keys(false).iter().map(|k| k.to_string()).collect();
        want.sort();
        assert_eq!(keys(image), want);
        assert_eq!(image["required"], json!(["name"]));
        assert_eq!(
            image["properties"]["builder"]["enum"],
            json!(["auto", "buildkit", "legacy"])
        );
        assert_eq!(
            image["properties"]["shm_size"]["description"],
            json!("Size of /dev/shm for the build's RUN steps")
        );
        let older = &schema["properties"]["builder"]["properties"]["images"]["items"];
        assert!(keys(older).contains(&"from".to_string()));
        assert!(!keys(image).contains(&"from".to_string()));
        let mut want: Vec<String> = defaults().iter().map(|f| f.name.to_string()).collect();
        want.sort();
        assert_eq!(keys(&schema["properties"]["defaults"]), want);
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }
}

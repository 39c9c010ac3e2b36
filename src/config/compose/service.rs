//! One compose service as a kiln [`ImageConfig`]: `build:` (short or long
//! form) becomes a built image tagged `image:` or `<project>-<service>`
//! plus `build.tags`; a service with only `image:` is a prebuilt entry.

use std::collections::BTreeMap;
use std::path::Path;

use super::read::{self, KeyValue};
use super::secrets;
use super::tree::{Kind, Node};
use crate::config::checks::{Loc, Meta, Problems};
use crate::config::fields::{Compose, Field, FIELDS};
use crate::config::interpolate::Env;
use crate::config::reference::{check_reference, check_tag};
use crate::config::schema::is_git_context;
use crate::config::values::FieldValue;
use crate::config::{ContextSource, Dockerfile, ImageConfig, Source};

/// Keys of a service's long-form `build:` (compose-spec `service.build`).
pub(crate) const BUILD_KEYS: &[&str] = &[
    "context",
    "dockerfile",
    "dockerfile_inline",
    "entitlements",
    "args",
    "ssh",
    "labels",
    "cache_from",
    "cache_to",
    "no_cache",
    "no_cache_filter",
    "additional_contexts",
    "network",
    "provenance",
    "sbom",
    "pull",
    "target",
    "shm_size",
    "extra_hosts",
    "isolation",
    "privileged",
    "secrets",
    "tags",
    "ulimits",
    "platforms",
];

/// Build keys whose effect kiln cannot reproduce through the Engine's
/// `/build` API; set, they are ignored with a warning.
const UNSUPPORTED_BUILD_KEYS: &[(&str, &str)] =
    &[("entitlements", "entitlements cannot be granted")];

/// kiln's run settings for one service: the top-level `x-kiln:`'s values,
/// then the service's own (the later wins).
pub(crate) type RunSettings = Vec<(&'static Field, FieldValue)>;

/// What a service needs from the project around it.
pub(crate) struct ServiceInput<'a> {
    pub name: &'a str,
    pub key_at: &'a Loc,
    pub node: &'a Node,
    pub project: &'a str,
    /// The project directory; relative contexts are joined to it.
    pub dir: &'a Path,
    /// Looks up variables for build args given without a value, and the
    /// variables of `environment:` secrets.
    pub env: Env<'a>,
    /// The top-level `secrets:`, which `build.secrets` names.
    pub secrets: Option<&'a Node>,
    pub run: RunSettings,
    /// Declared dependencies kept for ordering, with their positions.
    pub depends_on: Vec<(String, Loc)>,
}

/// The parts of `build:` that decide where the build comes from.
struct BuildSource {
    source: Source,
    meta_context: Option<(String, Loc)>,
    dockerfile_at: Option<Loc>,
    ok_for_files: bool,
}

/// The image for one service, and where its parts were written.
pub(crate) fn image(input: ServiceInput<'_>, out: &mut Problems) -> Option<(ImageConfig, Meta)> {
    let svc = input.node;
    let image = svc
        .get("image")
        .and_then(|n| read::non_empty(n, "image", out));
    let prebuilt = Source::Prebuilt {
        image: image.clone().unwrap_or_default(),
    };
    let mut img = ImageConfig::new(input.name, prebuilt, input.key_at.pos.line);
    img.depends_on = input.depends_on.iter().map(|(d, _)| d.clone()).collect();
    for (field, value) in &input.run {
        img.put(field.name, value.clone());
    }
    let mut meta = Meta {
        name_at: input.key_at.clone(),
        depends_at: input.depends_on.iter().map(|(_, at)| at.clone()).collect(),
        context: None,
        dockerfile_at: None,
        ok_for_files: true,
    };
    match svc.get("build") {
        Some(build) => {
            let build = long_form(build);
            read::mapping(&build, "build", out)?;
            read::unknown_keys(&build, BUILD_KEYS, "build key", out);
            let from = build_source(&build, input.dir, out)?;
            meta.context = from.meta_context;
            meta.dockerfile_at = from.dockerfile_at;
            meta.ok_for_files = from.ok_for_files;
            img.source = from.source;
            img.tags = vec![built_tag(image, &input, out)];
            build_options(&build, svc, &input, &mut img, out);
        }
        None => {
            let Some(image) = image else {
                // (An `extends` still here could not be applied: said.)
                if svc.entry("extends").is_none() {
                    out.error(
                        input.key_at,
                        format!("service '{}' has neither 'image' nor 'build'", input.name),
                    );
                }
                return None;
            };
            if let (Err(why), Some(n)) = (check_reference(&image), svc.get("image")) {
                if !image.contains("${") {
                    out.error(&n.at, format!("invalid image reference '{image}': {why}"));
                }
            }
            img.tags = vec![image];
            prebuilt_pull(svc, &mut img, out);
        }
    }
    Some((img, meta))
}

/// The tag of a built image: `image:`, else compose's name for it,
/// `<project>-<service>`; Docker's reference grammar says whether it can
/// be a tag.
fn built_tag(image: Option<String>, input: &ServiceInput<'_>, out: &mut Problems) -> String {
    let tag_at = input.node.get("image").map_or(input.key_at, |n| &n.at);
    let Some(tag) = image else {
        let tag = format!("{}-{}", input.project, input.name);
        if input.name.chars().any(|c| c.is_ascii_uppercase()) {
            out.error(
                tag_at,
                format!(
                    "service '{}' builds an image that compose names '{tag}', and an image name cannot have capital letters: give the service an 'image:' or a lowercase name",
                    input.name
                ),
            );
        } else if let Err(why) = check_tag(&tag) {
            out.error(tag_at, format!("invalid tag '{tag}': {why}"));
        }
        return tag;
    };
    // (A `${VAR:?…}` that failed is kept as written, and said.)
    if let (Err(why), false) = (check_tag(&tag), tag.contains("${")) {
        out.error(tag_at, format!("invalid tag '{tag}': {why}"));
    }
    tag
}

/// `build: DIR` as the long form `{context: DIR}`.
fn long_form(build: &Node) -> Node {
    match &build.kind {
        Kind::Str(_) => Node::new(
            Kind::Map(vec![super::tree::Entry {
                key: "context".to_string(),
                key_at: build.at.clone(),
                value: build.clone(),
            }]),
            build.at.clone(),
        ),
        _ => build.clone(),
    }
}

/// `context`, `dockerfile`, `dockerfile_inline` and `additional_contexts`.
fn build_source(build: &Node, dir: &Path, out: &mut Problems) -> Option<BuildSource> {
    let mut ok = true;
    let (context_text, context_at) = match build.get("context") {
        Some(n) => match read::non_empty(n, "context", out) {
            Some(s) => (s, n.at.clone()),
            None => {
                ok = false;
                (".".to_string(), n.at.clone())
            }
        },
        None => (".".to_string(), build.at.clone()),
    };
    if let Some(e) = build.entry("additional_contexts") {
        let given = match &e.value.kind {
            Kind::Map(entries) => !entries.is_empty(),
            Kind::Seq(items) => !items.is_empty(),
            Kind::Null => false,
            _ => true,
        };
        if given {
            out.error(
                &e.key_at,
                "'additional_contexts' is not supported: kiln builds through the Docker Engine's /build API, \
                 which has no way to pass named build contexts (that takes BuildKit's own API, as docker buildx uses); \
                 remove it or build this service with docker buildx",
            );
        }
    }
    let git = is_git_context(&context_text);
    let dockerfile_node = build.get("dockerfile");
    let inline_node = build.get("dockerfile_inline");
    let dockerfile = match (dockerfile_node, inline_node) {
        (Some(_), Some(inline)) => {
            let at = build
                .entry("dockerfile_inline")
                .map_or(&inline.at, |e| &e.key_at);
            out.error(
                at,
                "'dockerfile' and 'dockerfile_inline' cannot both be set",
            );
            return None;
        }
        (_, Some(inline)) => {
            let text = read::string(inline, "dockerfile_inline", out)?;
            if git {
                out.error(
                    &inline.at,
                    "'dockerfile_inline' needs a directory context, not a git URL",
                );
                return None;
            }
            Dockerfile::Inline(text)
        }
        (Some(n), None) => match read::non_empty(n, "dockerfile", out) {
            Some(s) => Dockerfile::Path(s),
            None => {
                ok = false;
                Dockerfile::Path("Dockerfile".to_string())
            }
        },
        (None, None) => Dockerfile::Path("Dockerfile".to_string()),
    };
    let context = if git {
        ContextSource::Git(context_text.clone())
    } else {
        ContextSource::Dir(dir.join(&context_text).components().collect())
    };
    Some(BuildSource {
        meta_context: (!git).then_some((context_text, context_at)),
        dockerfile_at: dockerfile_node.map(|n| n.at.clone()),
        ok_for_files: ok,
        source: Source::Build {
            context,
            dockerfile,
        },
    })
}

/// Everything else of `build:`, and the fields a built service gives
/// beside it (`platform`).
fn build_options(
    build: &Node,
    svc: &Node,
    input: &ServiceInput<'_>,
    img: &mut ImageConfig,
    out: &mut Problems,
) {
    for field in FIELDS {
        let (node, key) = match field.compose {
            Compose::Build(key) => (build, key),
            Compose::Service(key) => (svc, key),
            Compose::No | Compose::XKiln => continue,
        };
        let Some(n) = node.get(key) else {
            continue;
        };
        match field.name {
            // Where the build comes from (`build_source`), what the service
            // is called and waits for (`image`, the project), and the
            // platform (`platform`, below, with `build.platforms`).
            "context" | "dockerfile" | "image" | "depends_on" | "platform" => {}
            "args" => {
                img.args = build_args(read::key_values(n, key, out).unwrap_or_default(), input.env);
            }
            "labels" => {
                for kv in read::key_values(n, key, out).unwrap_or_default() {
                    img.labels.insert(kv.key, kv.value.unwrap_or_default());
                }
            }
            "tags" => more_tags(n, img, out),
            "cache_from" => {
                img.cache_from = cache_from(read::strings(n, key, out).unwrap_or_default(), out);
            }
            "extra_hosts" => img.extra_hosts = extra_hosts(n, out),
            "secrets" => {
                img.secrets = secrets::build_secrets(n, input.secrets, input.dir, input.env, out);
            }
            "ssh" => img.ssh = secrets::build_ssh(n, input.dir, input.env, out),
            _ => {
                if let Some(value) = read::value(n, field, out) {
                    img.put(field.name, value);
                }
            }
        }
    }
    img.platform = platform(build, svc, out);
    for key in ["secrets", "ssh"] {
        if let (Some(message), Some(e)) = (
            crate::config::secrets::refused_by_legacy(img, key),
            build.entry(key),
        ) {
            out.error(&e.key_at, message);
        }
    }
    for (key, why) in UNSUPPORTED_BUILD_KEYS {
        if let Some(e) = build
            .entry(key)
            .filter(|e| !matches!(e.value.kind, Kind::Null))
        {
            out.warn(&e.key_at, format!("'{key}' is ignored: {why}"));
        }
    }
    if let Some(e) = build.entry("privileged") {
        if read::boolean(&e.value, "privileged", out) == Some(true) {
            out.warn(
                &e.key_at,
                "'privileged' is ignored: the /build API cannot grant it",
            );
        }
    }
}

/// `build.tags`, each valid, after the image's own tag.
fn more_tags(node: &Node, img: &mut ImageConfig, out: &mut Problems) {
    for (tag, at) in read::strings(node, "tags", out).unwrap_or_default() {
        if let (Err(why), false) = (check_tag(&tag), tag.contains("${")) {
            out.error(&at, format!("invalid tag '{tag}': {why}"));
        } else if !img.tags.contains(&tag) {
            img.tags.push(tag);
        }
    }
}

/// Build args; a bare `KEY` (or `KEY: null`) takes the variable's value
/// from the environment, and is left out when it is unset (compose-go's
/// `resolve`). The later of two equal keys wins.
fn build_args(kvs: Vec<KeyValue>, env: Env<'_>) -> BTreeMap<String, String> {
    let mut args = BTreeMap::new();
    for kv in kvs {
        match kv.value.or_else(|| env(&kv.key)) {
            Some(v) => {
                args.insert(kv.key, v);
            }
            None => {
                args.remove(&kv.key);
            }
        }
    }
    args
}

/// Image references for `cache_from`. `type=registry,ref=IMAGE` is taken
/// as `IMAGE`; other cache types (local, gha, s3, ...) need buildx and are
/// skipped with a warning.
fn cache_from(items: Vec<(String, Loc)>, out: &mut Problems) -> Vec<String> {
    let mut refs = Vec::new();
    for (item, at) in items {
        if !item.contains('=') {
            refs.push(item);
            continue;
        }
        let attrs: BTreeMap<&str, &str> = item
            .split(',')
            .filter_map(|kv| kv.split_once('='))
            .collect();
        match (attrs.get("type").copied(), attrs.get("ref")) {
            (Some("registry") | None, Some(r)) => refs.push(r.to_string()),
            _ => out.warn(
                &at,
                format!(
                    "cache_from '{item}' is ignored: the /build API takes only image references"
                ),
            ),
        }
    }
    refs
}

/// `extra_hosts` as `HOST:IP` (the Engine API's form), from a list of
/// `HOST:IP` / `HOST=IP` or a mapping `HOST: IP` (or a list of IPs).
fn extra_hosts(node: &Node, out: &mut Problems) -> Vec<String> {
    let mut hosts = Vec::new();
    match &node.kind {
        Kind::Map(entries) => {
            for e in entries {
                let ips = match &e.value.kind {
                    Kind::Seq(items) => items.iter().filter_map(Node::scalar_text).collect(),
                    _ => e.value.scalar_text().into_iter().collect::<Vec<_>>(),
                };
                if ips.is_empty() {
                    out.error(
                        &e.value.at,
                        format!("extra host '{}' needs an IP address", e.key),
                    );
                }
                hosts.extend(ips.into_iter().map(|ip| format!("{}:{ip}", e.key)));
            }
        }
        _ => {
            for (item, at) in read::strings(node, "extra_hosts", out).unwrap_or_default() {
                let split = item.split_once('=').or_else(|| item.split_once(':'));
                match split {
                    Some((host, ip)) if !host.is_empty() && !ip.is_empty() => {
                        hosts.push(format!("{host}:{ip}"))
                    }
                    _ => out.error(
                        &at,
                        format!("invalid extra host '{item}' (use HOST:IP or HOST=IP)"),
                    ),
                }
            }
        }
    }
    hosts
}

/// The platform to build: the service's `platform`, which must then be one
/// of `build.platforms`, else the first of `build.platforms` (kiln builds
/// one platform per image; the rest are named in a warning).
fn platform(build: &Node, svc: &Node, out: &mut Problems) -> Option<String> {
    let service = svc
        .get("platform")
        .and_then(|n| read::string(n, "platform", out));
    let Some(list_node) = build.get("platforms") else {
        return service;
    };
    let list = read::strings(list_node, "platforms", out).unwrap_or_default();
    let names: Vec<&str> = list.iter().map(|(p, _)| p.as_str()).collect();
    if let Some(p) = &service {
        if !names.is_empty() && !names.contains(&p.as_str()) {
            out.error(
                &list_node.at,
                format!("'platforms' must include the service's platform '{p}'"),
            );
        }
        return service;
    }
    if names.len() > 1 {
        out.warn(
            &list_node.at,
            format!(
                "kiln builds one platform per image: {} (not {})",
                names[0],
                names[1..].join(", ")
            ),
        );
    }
    names.first().map(|p| p.to_string())
}

/// `pull_policy` of an image-only service: `always` pulls every run,
/// `never` needs the image on the daemon, anything else (`missing`, the
/// default, and the refresh policies) pulls it when it is missing.
fn prebuilt_pull(svc: &Node, img: &mut ImageConfig, out: &mut Problems) {
    let policy = svc
        .get("pull_policy")
        .and_then(|n| read::string(n, "pull_policy", out))
        .unwrap_or_else(|| "missing".to_string());
    match policy.as_str() {
        "always" => img.pull = true,
        "never" => {}
        _ => img.pull_if_missing = true,
    }
}

//! The merged compose tree as a kiln [`Config`]: the top-level keys,
//! kiln's `x-kiln:` fields, profiles, `depends_on`, and every enabled
//! service through `service.rs`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::engines;
use super::read;
use super::service::{self, RunSettings, ServiceInput};
use super::tree::{Kind, Node};
use crate::config::checks::{self, Loc, Problems};
use crate::config::dockerfile::tag_key;
use crate::config::fields::{self, Entry};
use crate::config::interpolate::Env;
use crate::config::suggest::did_you_mean;
use crate::config::values::FieldValue;
use crate::config::{Config, ImageConfig, Source, DEFAULT_JOBS};

/// Top-level keys of the compose specification (`x-*` are extensions).
pub(crate) const TOP_KEYS: &[&str] = &[
    "version", "name", "include", "services", "networks", "volumes", "secrets", "configs", "models",
];

/// Keys of a service (compose-spec `service`); kiln reads `build`,
/// `image`, `depends_on`, `profiles`, `platform`, `pull_policy` and
/// `x-kiln`, and accepts the rest without using them.
pub(crate) const SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "build",
    "cap_add",
    "cap_drop",
    "cgroup",
    "cgroup_parent",
    "command",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "cpus",
    "cpuset",
    "credential_spec",
    "depends_on",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "entrypoint",
    "env_file",
    "environment",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "healthcheck",
    "hostname",
    "image",
    "init",
    "ipc",
    "isolation",
    "label_file",
    "labels",
    "links",
    "logging",
    "mac_address",
    "mem_limit",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "models",
    "network_mode",
    "networks",
    "oom_kill_disable",
    "oom_score_adj",
    "pid",
    "pids_limit",
    "platform",
    "ports",
    "post_start",
    "pre_start",
    "pre_stop",
    "privileged",
    "profiles",
    "provider",
    "pull_policy",
    "pull_refresh_after",
    "read_only",
    "restart",
    "runtime",
    "scale",
    "secrets",
    "security_opt",
    "shm_size",
    "stdin_open",
    "stop_grace_period",
    "stop_signal",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "tty",
    "ulimits",
    "use_api_socket",
    "user",
    "userns_mode",
    "uts",
    "volumes",
    "volumes_from",
    "working_dir",
];

/// What the conversion needs besides the tree.
pub(crate) struct Project<'a> {
    pub name: &'a str,
    /// The first compose file (the config's path).
    pub path: &'a Path,
    /// The project directory, as given (relative contexts join to it).
    pub dir: &'a Path,
    /// Enabled profiles (`*` enables all).
    pub profiles: &'a [String],
    /// The interpolation environment (for build args without a value).
    pub env: Env<'a>,
}

/// The config (unless the tree is unusable) and every profile named by a
/// service, to check `--profile` against.
pub(crate) struct Converted {
    pub config: Option<Config>,
    pub known_profiles: BTreeSet<String>,
}

/// A service as declared, before it becomes an image.
struct Declared<'n> {
    name: &'n str,
    key_at: &'n Loc,
    node: &'n Node,
    profiles: Vec<String>,
    builds: bool,
    depends_on: Vec<Dependency>,
}

struct Dependency {
    name: String,
    /// `required: false` tolerates a disabled or missing service.
    required: bool,
    at: Loc,
}

pub(crate) fn to_config(root: &Node, project: &Project<'_>, out: &mut Problems) -> Converted {
    let mut converted = Converted {
        config: None,
        known_profiles: BTreeSet::new(),
    };
    let Some(top) = top_level(root, out) else {
        return converted;
    };
    let (run, jobs) = run_settings(top.get("x-kiln"), Level::Top, out);
    let (engines, collect) = engines::read_top(top.get("x-kiln"), project.dir, out);
    let transfer_registry = engines::read_registry(top.get("x-kiln"), &engines, out);
    let Some(services) = services(top, out) else {
        return converted;
    };
    converted.known_profiles = services.iter().flat_map(|s| s.profiles.clone()).collect();
    let enabled: Vec<&Declared<'_>> = services
        .iter()
        .filter(|s| is_enabled(&s.profiles, project.profiles))
        .collect();
    if enabled.is_empty() {
        if services.is_empty() {
            // Every service had errors, reported already.
            return converted;
        }
        let at = top.entry("services").map_or(&root.at, |e| &e.key_at);
        out.error(at, no_service_enabled(&converted.known_profiles));
        return converted;
    }
    let mut by_name: HashMap<&str, &Declared<'_>> = HashMap::with_capacity(services.len());
    for svc in &services {
        by_name.entry(svc.name).or_insert(svc);
    }
    let mut images = Vec::new();
    let mut metas = Vec::new();
    for svc in &enabled {
        let input = ServiceInput {
            name: svc.name,
            key_at: svc.key_at,
            node: svc.node,
            project: project.name,
            dir: project.dir,
            env: project.env,
            secrets: top.get("secrets"),
            run: run
                .iter()
                .cloned()
                .chain(run_settings(svc.node.get("x-kiln"), Level::Service, out).0)
                .collect(),
            depends_on: build_dependencies(svc, (&services, &by_name), project.profiles, out),
        };
        if let Some((img, meta)) = service::image(input, out) {
            images.push(img);
            metas.push(meta);
        }
    }
    forget_failed_services(&mut images, &mut metas);
    use_stack_built_images(&mut images, &mut metas);
    checks::whole_stack(&mut images, &metas, false, out);
    let pinned: Vec<(&str, &Node)> = enabled.iter().map(|s| (s.name, s.node)).collect();
    engines::check_pins(&pinned, &images, &engines, out);
    converted.config = Some(Config {
        path: project.path.to_path_buf(),
        dir: project.dir.to_path_buf(),
        jobs: jobs.unwrap_or(DEFAULT_JOBS),
        images,
        engines,
        collect,
        project: Some(project.name.to_string()),
        label: String::new(),
        transfer_registry,
    });
    converted
}

/// The root mapping, with its keys checked.
fn top_level<'n>(root: &'n Node, out: &mut Problems) -> Option<&'n Node> {
    match &root.kind {
        Kind::Map(_) => {}
        Kind::Null => {
            out.error(
                &root.at,
                "the compose file is empty; add a 'services:' mapping",
            );
            return None;
        }
        _ => {
            out.error(
                &root.at,
                "expected a mapping with 'services:' at the top level",
            );
            return None;
        }
    }
    read::unknown_keys(root, TOP_KEYS, "top-level key", out);
    if let Some(n) = root.get("name") {
        read::string(n, "name", out);
    }
    Some(root)
}

/// Every service with its profiles, whether it builds, and its
/// `depends_on`.
fn services<'n>(top: &'n Node, out: &mut Problems) -> Option<Vec<Declared<'n>>> {
    let Some(entry) = top.entry("services") else {
        out.error(&top.at, "no services defined: add a 'services:' mapping");
        return None;
    };
    let node = read::mapping(&entry.value, "services", out)?;
    if node.entries().is_empty() {
        out.error(
            &entry.key_at,
            "'services' is empty; define at least one service",
        );
        return None;
    }
    let mut list = Vec::new();
    for e in node.entries() {
        if let Err(why) = valid_service_name(&e.key) {
            out.error(&e.key_at, format!("service name '{}' {why}", e.key));
            continue;
        }
        let Some(svc) = read::mapping(&e.value, &format!("services.{}", e.key), out) else {
            continue;
        };
        read::unknown_keys(svc, SERVICE_KEYS, "service key", out);
        let profiles = svc
            .get("profiles")
            .and_then(|n| read::strings(n, "profiles", out))
            .unwrap_or_default()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        list.push(Declared {
            name: &e.key,
            key_at: &e.key_at,
            node: svc,
            profiles,
            builds: svc.get("build").is_some(),
            depends_on: depends_on(svc, out),
        });
    }
    Some(list)
}

/// The compose specification's service names (`^[a-zA-Z0-9._-]+$`),
/// which kiln's image names are; but not `.` or `..`, which would name the
/// wrong directory for the image's saved logs.
fn valid_service_name(name: &str) -> Result<(), &'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if name.is_empty() || !name.chars().all(allowed) {
        return Err("is not a valid compose service name: use letters, digits, '.', '_' and '-'");
    }
    if name == "." || name == ".." {
        return Err(
            "cannot name a kiln image: kiln keeps each image's logs in a directory of its name",
        );
    }
    Ok(())
}

/// `depends_on` as a list of names or a mapping of names to conditions.
fn depends_on(svc: &Node, out: &mut Problems) -> Vec<Dependency> {
    let Some(node) = svc.get("depends_on") else {
        return Vec::new();
    };
    match &node.kind {
        Kind::Seq(_) => read::strings(node, "depends_on", out)
            .unwrap_or_default()
            .into_iter()
            .map(|(name, at)| Dependency {
                name,
                required: true,
                at,
            })
            .collect(),
        Kind::Map(entries) => entries
            .iter()
            .map(|e| Dependency {
                name: e.key.clone(),
                required: e
                    .value
                    .get("required")
                    .and_then(|n| read::boolean(n, "required", out))
                    .unwrap_or(true),
                at: e.key_at.clone(),
            })
            .collect(),
        _ => {
            out.error(
                &node.at,
                format!(
                    "'depends_on' must be a list of services or a mapping, not {}",
                    node.describe()
                ),
            );
            Vec::new()
        }
    }
}

/// A service without profiles is always enabled; one with profiles when
/// one of them (or `*`) is enabled.
fn is_enabled(service_profiles: &[String], enabled: &[String]) -> bool {
    service_profiles.is_empty()
        || enabled
            .iter()
            .any(|p| p == "*" || service_profiles.contains(p))
}

fn no_service_enabled(known: &BTreeSet<String>) -> String {
    let list: Vec<&str> = known.iter().map(String::as_str).collect();
    format!(
        "no service is enabled: every service has profiles ({}); enable one with --profile",
        list.join(", ")
    )
}

/// The dependencies of `svc` that order builds: other enabled services
/// that kiln builds. A dependency on an image-only service is about
/// running, not building, and is left out (kiln still infers one when the
/// Dockerfile builds on that image). Unknown services, and disabled ones
/// that are required, are errors.
fn build_dependencies(
    svc: &Declared<'_>,
    (all, by_name): (&[Declared<'_>], &HashMap<&str, &Declared<'_>>),
    enabled_profiles: &[String],
    out: &mut Problems,
) -> Vec<(String, Loc)> {
    let mut kept = Vec::new();
    for dep in &svc.depends_on {
        let Some(target) = by_name.get(dep.name.as_str()) else {
            if dep.required {
                let hint = did_you_mean(&dep.name, all.iter().map(|s| s.name));
                out.error(
                    &dep.at,
                    format!("depends_on: unknown service '{}'{hint}", dep.name),
                );
            }
            continue;
        };
        if !is_enabled(&target.profiles, enabled_profiles) {
            if dep.required {
                out.error(
                    &dep.at,
                    format!(
                        "'{}' depends on '{}', which is not enabled; enable it with --profile {}",
                        svc.name,
                        dep.name,
                        target.profiles.join(" --profile ")
                    ),
                );
            }
            continue;
        }
        if target.builds || target.name == svc.name {
            kept.push((dep.name.clone(), dep.at.clone()));
        }
    }
    kept
}

/// Where an `x-kiln:` is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Service,
}

/// Drops dependencies on services that are declared but had errors (and
/// so have no image): their errors are reported already.
fn forget_failed_services(images: &mut [ImageConfig], metas: &mut [checks::Meta]) {
    let names: BTreeSet<String> = images.iter().map(|i| i.name.clone()).collect();
    for (img, meta) in images.iter_mut().zip(metas.iter_mut()) {
        let kept: Vec<(String, Loc)> = img
            .depends_on
            .drain(..)
            .zip(meta.depends_at.drain(..))
            .filter(|(d, _)| names.contains(d))
            .collect();
        (img.depends_on, meta.depends_at) = kept.into_iter().unzip();
    }
}

/// An image-only service whose image another service builds (`image:
/// app` beside `image: app` + `build:`, compose's way to share one build)
/// waits for that build and is never pulled.
fn use_stack_built_images(images: &mut [ImageConfig], metas: &mut [checks::Meta]) {
    // Each built tag (by `tag_key`) and the first service that builds it.
    let mut built: HashMap<String, String> = HashMap::new();
    for img in images.iter().filter(|i| !i.is_prebuilt()) {
        for key in img.tags.iter().filter_map(|t| tag_key(t)) {
            built.entry(key).or_insert_with(|| img.name.clone());
        }
    }
    for (img, meta) in images.iter_mut().zip(metas.iter_mut()) {
        let Source::Prebuilt { image } = &img.source else {
            continue;
        };
        let Some(builder) = tag_key(image).and_then(|k| built.get(&k)) else {
            continue;
        };
        if !img.depends_on.contains(builder) {
            img.depends_on.push(builder.clone());
            meta.depends_at.push(meta.name_at.clone());
        }
        img.pull = false;
        img.pull_if_missing = false;
    }
}

/// The values an `x-kiln:` gives, and (at the top level) `jobs`.
fn run_settings(
    node: Option<&Node>,
    level: Level,
    out: &mut Problems,
) -> (RunSettings, Option<usize>) {
    let mut run = RunSettings::new();
    let mut jobs = None;
    let Some(node) = node.and_then(|n| read::mapping(n, "x-kiln", out)) else {
        return (run, jobs);
    };
    let takes = fields::xkiln(level == Level::Top);
    for e in node.entries() {
        if takes.iter().any(|f| f.name == e.key)
            || (level == Level::Top && engines::TOP_KEYS.contains(&e.key.as_str()))
        {
            continue;
        }
        if fields::xkiln(true).iter().any(|f| f.name == e.key) {
            out.error(
                &e.key_at,
                format!(
                    "'{}' is for the whole stack: set it in the top-level x-kiln",
                    e.key
                ),
            );
            continue;
        }
        let hint = did_you_mean(&e.key, takes.iter().map(|f| f.name));
        out.error(&e.key_at, format!("unknown x-kiln field '{}'{hint}", e.key));
    }
    for field in takes {
        let Some(n) = node.get(field.name) else {
            continue;
        };
        match read::value(n, field, out) {
            Some(FieldValue::Count(n)) if field.entry == Entry::No => jobs = Some(n),
            Some(value) => run.push((field, value)),
            None => {}
        }
    }
    (run, jobs)
}

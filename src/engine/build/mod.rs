//! One image's build on the daemon, turned into `EngineEvent`s on the app's
//! channel. The task owns the daemon stream; dropping it (on cancel) makes
//! the daemon abort the build and remove its intermediate container.
//!
//! Whether to build at all is the model's call (`ChangeCheck`): this works
//! out the build's inputs and compares them as told, with no access to the
//! history itself.

mod build_inputs;
mod dry;
mod stream;
mod upload;

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use tokio_util::sync::CancellationToken;

use crate::config::{BuilderChoice, ContextSource, Dockerfile, ImageConfig, Source};
use crate::engine::change::Subject;
use crate::engine::connect::Endpoint;
use crate::engine::context::ContextSpec;
use crate::engine::credentials;
use crate::engine::own_dirs::{self, OwnDirs};
use crate::engine::prebuilt;
use crate::engine::session::{self, BuildQuery, ContextSession, FromClient};
use crate::engine::sink::Sink;
use crate::engine::steps::OwnSteps;
use crate::protocol::{BuilderKind, ChangeCheck, EngineEvent};
use build_inputs::work_out_later;
pub use dry::{dry_run, DryVerdict};
use stream::{follow_stream, StreamRead};
use upload::{upload, Upload};

/// Run-wide build switches from the command line.
#[derive(Debug, Clone, Default)]
pub struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
    /// The daemon can run BuildKit builds (decides `builder: auto`).
    pub buildkit_available: bool,
    /// The daemon is Podman: every build is buildah's, whatever the
    /// image's `builder` says (Podman has no other).
    pub buildah: bool,
    /// The tags of the images the stack builds (filled by the `Executor`):
    /// bases kiln builds itself are never asked of a registry.
    pub stack_tags: Vec<String>,
    /// The daemon's endpoint, to name it when it stops answering (None:
    /// resolved from the environment then).
    pub endpoint: Option<Endpoint>,
}

/// Build (or, for a prebuilt image, check) one image. Returns when the build
/// ends, fails, or `cancel` fires.
pub async fn run(
    docker: Docker,
    spec: ImageConfig,
    flags: BuildFlags,
    check: ChangeCheck,
    sink: Sink,
    cancel: CancellationToken,
) {
    let work = async {
        match &spec.source {
            Source::Prebuilt { image } => {
                prebuilt::check(&docker, image, prebuilt_pull(&spec, &flags), &sink).await
            }
            Source::Build {
                context,
                dockerfile,
            } => {
                let Some(dockerfile_name) = dockerfile_name(context, dockerfile) else {
                    // The config refuses this; a git context is fetched by
                    // the daemon, with nowhere to put the text.
                    sink.fail(INLINE_NEEDS_DIR.into()).await;
                    return;
                };
                if let ContextSource::Dir(root) = context {
                    own_dirs_first(root, &sink).await;
                }
                let job = Job {
                    docker: &docker,
                    spec: &spec,
                    flags: &flags,
                    sink: &sink,
                    context,
                    dockerfile,
                    dockerfile_name,
                };
                build_falling_back_to_legacy(&job, check).await
            }
        }
    };
    tokio::select! {
        // Dropping `work` drops the daemon stream, which cancels the build.
        _ = cancel.cancelled() => {}
        _ = work => {}
    }
}

/// kiln's own dirs inside a context are made before it is walked (their
/// parents appearing later would change the context), and said once.
async fn own_dirs_first(root: &std::path::Path, sink: &Sink) {
    let kilns = OwnDirs::of_kiln();
    let own = kilns.within(root);
    if !own.is_empty() {
        kilns.create();
    }
    if let Some(warning) = own_dirs::warning_once(root, &own) {
        sink.send(EngineEvent::Notice(warning)).await;
    }
}

/// When a prebuilt image is pulled: `pull`/`--pull` every run, else when
/// missing if its config says so (compose's default pull policy).
fn prebuilt_pull(spec: &ImageConfig, flags: &BuildFlags) -> prebuilt::Pull {
    if spec.pull || flags.pull {
        prebuilt::Pull::Always
    } else if spec.pull_if_missing {
        prebuilt::Pull::IfMissing
    } else {
        prebuilt::Pull::Never
    }
}

const INLINE_NEEDS_DIR: &str = "an inline Dockerfile needs a directory context, not a git URL";

/// How a build attempt ended, when the caller has something left to do.
enum Outcome {
    /// Reported to the app (built, failed, skipped, or the app has gone away).
    Reported,
    /// BuildKit failed before the daemon reported anything: the session
    /// could not be set up. Nothing was reported yet.
    SessionFailed(String),
}

/// What every build attempt of one image shares.
struct Job<'a> {
    docker: &'a Docker,
    spec: &'a ImageConfig,
    flags: &'a BuildFlags,
    sink: &'a Sink,
    context: &'a ContextSource,
    dockerfile: &'a Dockerfile,
    /// The Dockerfile's name in the context, as the daemon is told it.
    dockerfile_name: String,
}

/// The Dockerfile's name in the context: the path, or for an inline
/// Dockerfile the name it is sent under (`None` with a git context).
fn dockerfile_name(context: &ContextSource, dockerfile: &Dockerfile) -> Option<String> {
    match (context, dockerfile) {
        (ContextSource::Dir(root), _) => Some(
            ContextSpec {
                root: root.clone(),
                dockerfile: dockerfile.clone(),
            }
            .dockerfile_name(),
        ),
        (ContextSource::Git(_), Dockerfile::Path(p)) => Some(p.clone()),
        (ContextSource::Git(_), Dockerfile::Inline(_)) => None,
    }
}

/// The builder `builder: auto` means on this daemon; on Podman, buildah
/// whatever was chosen.
fn choose_builder(choice: BuilderChoice, flags: &BuildFlags) -> BuilderKind {
    if flags.buildah {
        return BuilderKind::Buildah;
    }
    match choice {
        BuilderChoice::Legacy => BuilderKind::Legacy,
        BuilderChoice::BuildKit => BuilderKind::Buildkit,
        BuilderChoice::Auto if flags.buildkit_available => BuilderKind::Buildkit,
        BuilderChoice::Auto => BuilderKind::Legacy,
    }
}

/// The tags of the images the stack builds (`BuildFlags::stack_tags`).
pub fn stack_tags(images: &[ImageConfig]) -> Vec<String> {
    images
        .iter()
        .filter(|i| !i.is_prebuilt())
        .flat_map(|i| i.tags.iter().cloned())
        .collect()
}

/// The builder(s) the images kiln builds will use on this daemon, for the
/// status bar: `buildkit`, `legacy`, or both (`--builder` has been applied
/// to `images` already).
pub fn builders_in_use(images: &[ImageConfig], flags: &BuildFlags) -> String {
    let kinds: std::collections::BTreeSet<&str> = images
        .iter()
        .filter(|i| !i.is_prebuilt())
        .map(|i| choose_builder(i.builder, flags).as_str())
        .collect();
    if kinds.is_empty() {
        return choose_builder(BuilderChoice::Auto, flags)
            .as_str()
            .to_string();
    }
    kinds.into_iter().collect::<Vec<_>>().join("+")
}

/// Build with the chosen builder; under `auto`, a BuildKit session that
/// cannot start falls back to the legacy builder (saying so), unless the
/// image has secrets or SSH agents, which the legacy builder cannot mount.
async fn build_falling_back_to_legacy(job: &Job<'_>, check: ChangeCheck) {
    let builder = choose_builder(job.spec.builder, job.flags);
    if let Some(why) = refusal(job.spec, builder) {
        job.sink.fail(why.into()).await;
        return;
    }
    let Outcome::SessionFailed(why) = build(job, &check, builder).await else {
        return;
    };
    if job.spec.builder != BuilderChoice::Auto || job.spec.needs_buildkit() {
        let hint = if job.spec.needs_buildkit() {
            "; this image's secrets and SSH agents need it"
        } else {
            " (try --builder legacy)"
        };
        job.sink
            .fail(format!("BuildKit could not start: {why}{hint}"))
            .await;
        return;
    }
    let note = format!("BuildKit could not start ({why}); falling back to the legacy builder");
    if job.sink.send(EngineEvent::Notice(note)).await {
        // The inputs were compared (and reported) by the first attempt.
        build(job, &ChangeCheck::Off, BuilderKind::Legacy).await;
    }
}

/// Why this image cannot be built with `builder`, when it cannot (its
/// secrets and SSH agents need BuildKit's session).
fn refusal(spec: &ImageConfig, builder: BuilderKind) -> Option<&'static str> {
    if !spec.needs_buildkit() {
        return None;
    }
    match builder {
        BuilderKind::Buildah => Some(
            "this image's build secrets and SSH agents need BuildKit's session, which Podman does not offer (its builds are buildah's): build it on a Docker Engine",
        ),
        // (The config refuses `builder: legacy` with them: this daemon
        // has no BuildKit.)
        BuilderKind::Legacy => Some(
            "this image's build secrets and SSH agents need BuildKit, which the daemon does not offer (Linux, API 1.39 or later): the legacy builder cannot mount them",
        ),
        BuilderKind::Buildkit => None,
    }
}

/// One build attempt: options, the context (unless it is unchanged), the
/// daemon's stream; the build's inputs, when only to be recorded, are
/// worked out while the daemon builds.
async fn build(job: &Job<'_>, check: &ChangeCheck, builder: BuilderKind) -> Outcome {
    // Each BuildKit build needs its own session on the daemon.
    let session_id = session::new_id();
    let options = build_options(job, builder, &session_id);
    let dockerfile = match job.context {
        ContextSource::Dir(root) => job.dockerfile.text_in(root),
        ContextSource::Git(_) => None,
    };
    let creds = match &dockerfile {
        Some(text) => base_image_credentials(text, job.spec, job.sink).await,
        None => None,
    };
    let client = FromClient {
        creds: creds.clone(),
        secrets: job.spec.secrets.clone(),
        ssh: job.spec.ssh.clone(),
        key_lifetime: job.spec.timeout,
        endpoint: job.flags.endpoint.clone(),
    };
    let Some(Upload {
        tar,
        inputs,
        session,
        options,
    }) = upload(job, check, builder, &session_id, options, client).await
    else {
        return Outcome::Reported;
    };
    let body = match tar {
        Some(tar) => bollard::body_try_stream(tar),
        None => bollard::body_full(bytes::Bytes::new()),
    };
    // A session build hands the credentials over through the session.
    let creds = if session.is_some() { None } else { creds };
    let steps = own_steps(job, builder, dockerfile.as_deref());
    let query = session.as_ref().map(ContextSession::build_query);
    let docker = with_build_query(job.docker, job.spec, query);
    let stream = docker.build_image(options.build(), creds, Some(body));
    let mut read = StreamRead::new(builder, steps, pulls(job));
    read.session = session;
    let (inputs, later) = inputs.split();
    let (_, outcome) = tokio::join!(work_out_later(job, later), async {
        let outcome = follow_stream(job, stream, &mut read, inputs).await;
        // Drop the session (and its connection) with the stream.
        read.session = None;
        outcome
    });
    outcome
}

/// Whether the build pulls its base images (`--pull`, `pull: true`).
fn pulls(job: &Job<'_>) -> bool {
    job.spec.pull || job.flags.pull
}

/// What keeps a BuildKit build's steps the image's own: the steps its
/// Dockerfile makes (none known for a git context, and none needed by the
/// legacy builder, which builds alone).
fn own_steps(job: &Job<'_>, builder: BuilderKind, dockerfile: Option<&str>) -> OwnSteps {
    let spec = job.spec;
    let planned = match (builder, dockerfile) {
        (BuilderKind::Buildkit, Some(text)) => {
            crate::config::buildkit_steps(text, &spec.args, spec.target.as_deref())
        }
        _ => Vec::new(),
    };
    OwnSteps::new(planned, spec.no_cache || job.flags.no_cache)
}

/// The daemon's build options for this image and run.
fn build_options(
    job: &Job<'_>,
    builder: BuilderKind,
    session_id: &str,
) -> BuildImageOptionsBuilder {
    let (spec, flags) = (job.spec, job.flags);
    let version = match builder {
        BuilderKind::Legacy | BuilderKind::Buildah => BuilderVersion::BuilderV1,
        BuilderKind::Buildkit => BuilderVersion::BuilderBuildKit,
    };
    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(&job.dockerfile_name)
        .rm(true)
        .forcerm(true)
        .nocache(spec.no_cache || flags.no_cache)
        .version(version);
    if builder == BuilderKind::Buildkit {
        options = options.session(session_id);
    }
    if let Some(first) = spec.tags.first() {
        options = options.t(first);
    }
    if pulls(job) {
        options = options.pull("1");
    }
    if !spec.args.is_empty() {
        let args: HashMap<String, String> = spec.args.clone().into_iter().collect();
        options = options.buildargs(&args);
    }
    if !spec.labels.is_empty() {
        let labels: HashMap<String, String> = spec.labels.clone().into_iter().collect();
        options = options.labels(&labels);
    }
    if let Some(t) = &spec.target {
        options = options.target(t);
    }
    if let Some(n) = &spec.network {
        options = options.networkmode(n);
    }
    if let Some(p) = &spec.platform {
        options = options.platform(p);
    }
    if let Some(s) = spec.shm_size {
        options = options.shmsize(s.min(i32::MAX as u64) as i32);
    }
    if !spec.cache_from.is_empty() {
        options = options.cachefrom(&spec.cache_from);
    }
    options
}

/// The API takes repeated `t` and `extrahosts` parameters, but bollard's
/// options hold one string each: the rest go on the request's query. A
/// build reading its context through kiln's session gets that session's
/// query. And bollard sends X-Registry-Config in standard base64 while the
/// daemon reads url-safe base64, so it is re-encoded on the way out.
fn with_build_query(docker: &Docker, spec: &ImageConfig, session: Option<BuildQuery>) -> Docker {
    let extra: Vec<(&'static str, String)> = spec
        .tags
        .iter()
        .skip(1)
        .map(|t| ("t", t.clone()))
        .chain(spec.extra_hosts.iter().map(|h| ("extrahosts", h.clone())))
        .collect();
    docker.clone().with_request_modifier(move |req| {
        let req = add_query(req, "/build", &extra);
        let req = match &session {
            Some(query) => query.apply(req),
            None => req,
        };
        credentials::reencode_registry_headers(req)
    })
}

impl Job<'_> {
    fn subject(&self) -> Subject<'_> {
        Subject {
            docker: self.docker,
            spec: self.spec,
            dockerfile: &self.dockerfile_name,
            stack_tags: &self.flags.stack_tags,
            sink: self.sink,
            dry: false,
        }
    }
}

/// Credentials for the registries the Dockerfile pulls from (private base
/// images), found as the docker CLI finds them. Legacy builds send them in
/// X-Registry-Config, BuildKit through its session. None when there are
/// none; a failing lookup is a notice saying what failed, not a failure
/// (the pull may not need them).
async fn base_image_credentials(
    dockerfile_text: &str,
    spec: &ImageConfig,
    sink: &Sink,
) -> Option<HashMap<String, bollard::auth::DockerCredentials>> {
    let registries: std::collections::BTreeSet<String> =
        crate::config::dockerfile_refs(dockerfile_text, &spec.args, spec.target.as_deref())
            .iter()
            .filter(|r| r.as_str() != "scratch")
            .map(|r| credentials::registry_of(r))
            .collect();
    if registries.is_empty() {
        return None;
    }
    let store = match credentials::Store::from_env() {
        Ok(s) => s,
        Err(e) => {
            sink.send(EngineEvent::Notice(format!(
                "{e}; pulling base images without credentials"
            )))
            .await;
            return None;
        }
    };
    let mut map = HashMap::new();
    for registry in registries {
        match store.get(&registry).await {
            Ok(Some(c)) => {
                map.insert(credentials::server_address(&registry), c.to_docker());
            }
            Ok(None) => {}
            Err(e) => {
                sink.send(EngineEvent::Notice(format!(
                    "{e}; pulling from {registry} without credentials"
                )))
                .await;
            }
        }
    }
    (!map.is_empty()).then_some(map)
}

/// Append `params` to the query of requests whose path is `path`.
pub fn add_query(
    mut req: bollard::BollardRequest,
    path: &str,
    params: &[(&'static str, String)],
) -> bollard::BollardRequest {
    if req.uri().path().ends_with(path) {
        let mut query = req.uri().query().unwrap_or("").to_string();
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        let more = ser.finish();
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&more);
        let uri = format!("{}?{}", req.uri().path(), query);
        let mut parts = req.uri().clone().into_parts();
        if let Ok(pq) = uri.parse() {
            parts.path_and_query = Some(pq);
            if let Ok(new) = http::Uri::from_parts(parts) {
                *req.uri_mut() = new;
            }
        }
    }
    req
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_bar_names_the_builders_the_images_use() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "b"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
            std::fs::write(dir.path().join(d).join("Dockerfile"), "FROM scratch\n").unwrap();
        }
        let yaml = "images:\n  - name: a\n  - name: b\n  - {name: c, image: 'alpine:3'}\n";
        let env = |_: &str| None;
        let mut images = crate::config::load_str(&dir.path().join("kiln.yaml"), yaml, &env)
            .unwrap()
            .config
            .images;
        let flags = |buildkit_available| BuildFlags {
            buildkit_available,
            ..BuildFlags::default()
        };
        assert_eq!(builders_in_use(&images, &flags(true)), "buildkit");
        assert_eq!(builders_in_use(&images, &flags(false)), "legacy");
        // `--builder legacy` on a daemon that has BuildKit.
        for img in &mut images {
            img.builder = BuilderChoice::Legacy;
        }
        assert_eq!(builders_in_use(&images, &flags(true)), "legacy");
        images[1].builder = BuilderChoice::BuildKit;
        assert_eq!(builders_in_use(&images, &flags(true)), "buildkit+legacy");
        // On Podman every build is buildah's, whatever was chosen.
        let podman = BuildFlags {
            buildah: true,
            ..BuildFlags::default()
        };
        assert_eq!(builders_in_use(&images, &podman), "buildah");
    }
}

//! One image's build on the daemon, turned into `EngineEvent`s on the app's
//! channel. The task owns the daemon stream; dropping it (on cancel) makes
//! the daemon abort the build and remove its intermediate container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::event::{BuilderKind, Phase, SkipReason};
use crate::app::{EngineEvent, Msg, RunId};
use crate::config::{BuilderChoice, ContextSource, ImageConfig, Source};
use crate::engine::context::{self, ContextSpec};
use crate::engine::credentials;
use crate::engine::inputs;
use crate::engine::parse::{BuildEvent, BuildKitParser, LegacyParser};
use crate::engine::prebuilt;
use crate::history::History;

/// Run-wide build switches from the command line.
#[derive(Debug, Clone, Default)]
pub struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
    /// The daemon can run BuildKit builds (decides `builder: auto`).
    pub buildkit_available: bool,
    /// Rebuild even when the inputs equal the last successful build's.
    pub force: bool,
}

/// Shared build history, when it could be opened (change detection).
pub type SharedHistory = Option<Arc<Mutex<History>>>;

/// Sends one image's events to the app, stamped with the time they happened.
#[derive(Clone)]
pub struct Sink {
    pub tx: mpsc::Sender<Msg>,
    pub run: RunId,
    pub image: usize,
}

impl Sink {
    /// False when the app has gone away (the front-end is shutting down).
    pub async fn send(&self, event: EngineEvent) -> bool {
        self.tx
            .send(Msg::Engine {
                run: self.run,
                image: self.image,
                at: Instant::now(),
                event,
            })
            .await
            .is_ok()
    }

    /// Report a failure of the build phase.
    pub(crate) async fn fail(&self, error: String) {
        self.send(EngineEvent::Failed {
            phase: Phase::Build,
            error,
        })
        .await;
    }
}

/// Build (or, for a prebuilt image, check) one image. Returns when the build
/// ends, fails, or `cancel` fires.
pub async fn run(
    docker: Docker,
    spec: ImageConfig,
    flags: BuildFlags,
    history: SharedHistory,
    sink: Sink,
    cancel: CancellationToken,
) {
    let work = async {
        match &spec.source {
            Source::Prebuilt { image } => {
                prebuilt::check(&docker, image, spec.pull || flags.pull, &sink).await
            }
            Source::Build {
                context,
                dockerfile,
            } => {
                let builder = match spec.builder {
                    BuilderChoice::Legacy => BuilderKind::Legacy,
                    BuilderChoice::BuildKit => BuilderKind::Buildkit,
                    BuilderChoice::Auto if flags.buildkit_available => BuilderKind::Buildkit,
                    BuilderChoice::Auto => BuilderKind::Legacy,
                };
                let job = Job {
                    docker: &docker,
                    spec: &spec,
                    flags: &flags,
                    sink: &sink,
                };
                let outcome = build(&job, context, dockerfile, &history, builder).await;
                if let Outcome::SessionFailed(why) = outcome {
                    if spec.builder == BuilderChoice::Auto {
                        let note = format!(
                            "BuildKit could not start ({why}); falling back to the legacy builder"
                        );
                        if sink.send(EngineEvent::Notice(note)).await {
                            build(&job, context, dockerfile, &None, BuilderKind::Legacy).await;
                        }
                    } else {
                        sink.fail(format!(
                            "BuildKit could not start: {why} (try --builder legacy)"
                        ))
                        .await;
                    }
                }
            }
        }
    };
    tokio::select! {
        // Dropping `work` drops the daemon stream, which cancels the build.
        _ = cancel.cancelled() => {}
        _ = work => {}
    }
}

/// How a build attempt ended, when the caller has something left to do.
enum Outcome {
    /// Reported to the app (built, failed, or the app has gone away).
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
}

async fn build(
    job: &Job<'_>,
    context: &ContextSource,
    dockerfile: &str,
    history: &SharedHistory,
    builder: BuilderKind,
) -> Outcome {
    let Job {
        docker,
        spec,
        flags,
        sink,
    } = *job;
    let version = match builder {
        BuilderKind::Legacy => BuilderVersion::BuilderV1,
        BuilderKind::Buildkit => BuilderVersion::BuilderBuildKit,
    };
    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(dockerfile)
        .rm(true)
        .forcerm(true)
        .nocache(spec.no_cache || flags.no_cache)
        .version(version);
    let session_id;
    if builder == BuilderKind::Buildkit {
        // Each BuildKit build needs its own session on the daemon.
        session_id = format!("kiln-{}-{}-{}", std::process::id(), sink.run, sink.image);
        options = options.session(&session_id);
    }
    if let Some(first) = spec.tags.first() {
        options = options.t(first);
    }
    if spec.pull || flags.pull {
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

    let body = match context {
        ContextSource::Git(url) => {
            options = options.remote(url);
            bollard::body_full(bytes::Bytes::new())
        }
        ContextSource::Dir(root) => {
            let cspec = ContextSpec {
                root: root.clone(),
                dockerfile: dockerfile.to_string(),
            };
            let walked = tokio::task::spawn_blocking(move || context::walk(&cspec)).await;
            let entries = match walked {
                Ok(Ok(entries)) => entries,
                Ok(Err(e)) => {
                    sink.fail(format!("cannot read the build context: {e}"))
                        .await;
                    return Outcome::Reported;
                }
                Err(e) => {
                    sink.fail(format!("cannot read the build context: {e}"))
                        .await;
                    return Outcome::Reported;
                }
            };
            if let Some(history) = history {
                let usual = history
                    .lock()
                    .ok()
                    .and_then(|h| h.usual_steps(&spec.name).ok())
                    .unwrap_or_default();
                if !usual.is_empty() {
                    sink.send(EngineEvent::UsualSteps(usual)).await;
                }
                if changed_or_reported(docker, spec, dockerfile, flags, history, &entries, sink)
                    .await
                {
                    return Outcome::Reported;
                }
            }
            bollard::body_try_stream(context::tar_stream(entries))
        }
    };

    // The API takes repeated `t` and `extrahosts` parameters, but bollard's
    // options hold one string each: add the rest to the request's query.
    let extra: Vec<(&'static str, String)> = spec
        .tags
        .iter()
        .skip(1)
        .map(|t| ("t", t.clone()))
        .chain(spec.extra_hosts.iter().map(|h| ("extrahosts", h.clone())))
        .collect();
    // bollard sends X-Registry-Config in standard base64; the daemon reads
    // url-safe base64, so it is re-encoded on the way out.
    let docker = docker.clone().with_request_modifier(move |req| {
        credentials::reencode_registry_headers(add_query(req, "/build", &extra))
    });
    let creds = match context {
        ContextSource::Dir(root) => {
            base_image_credentials(&root.join(dockerfile), spec, sink).await
        }
        ContextSource::Git(_) => None,
    };

    let mut stream = docker.build_image(options.build(), creds, Some(body));
    let mut parser = Parser::new(builder);
    let mut events = Vec::new();
    let mut image_id = None;
    let mut error = None;
    let mut started = false;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => parser.feed(&info, &mut events),
            Err(bollard::errors::Error::DockerStreamError { error: e }) => {
                events.push(BuildEvent::Error(e))
            }
            Err(e) => {
                if builder == BuilderKind::Buildkit && !started {
                    return Outcome::SessionFailed(describe_stream_error(&e));
                }
                error = Some(describe_stream_error(&e));
                break;
            }
        }
        if !started {
            started = true;
            if !sink.send(EngineEvent::Started { builder }).await {
                return Outcome::Reported;
            }
        }
        hide_arg_values(&mut events, &spec.args);
        if !forward(&mut events, sink, &mut image_id, &mut error).await {
            return Outcome::Reported;
        }
    }
    if !started {
        if builder == BuilderKind::Buildkit && error.is_none() {
            return Outcome::SessionFailed("the daemon closed the build stream".into());
        }
        if !sink.send(EngineEvent::Started { builder }).await {
            return Outcome::Reported;
        }
    }
    parser.finish(&mut events);
    hide_arg_values(&mut events, &spec.args);
    if !forward(&mut events, sink, &mut image_id, &mut error).await {
        return Outcome::Reported;
    }
    match (error, image_id) {
        (Some(e), _) => sink.fail(e).await,
        (None, Some(id)) => {
            sink.send(EngineEvent::Built { image_id: id }).await;
        }
        (None, None) => {
            sink.fail("the daemon ended the build without an image id".into())
                .await
        }
    }
    Outcome::Reported
}

/// The stream parser of the builder in use.
enum Parser {
    Legacy(LegacyParser),
    BuildKit(BuildKitParser),
}

impl Parser {
    fn new(builder: BuilderKind) -> Self {
        match builder {
            BuilderKind::Legacy => Parser::Legacy(LegacyParser::new()),
            BuilderKind::Buildkit => Parser::BuildKit(BuildKitParser::new()),
        }
    }

    fn feed(&mut self, info: &bollard::models::BuildInfo, out: &mut Vec<BuildEvent>) {
        match self {
            Parser::Legacy(p) => p.feed(info, out),
            Parser::BuildKit(p) => p.feed_info(info, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        match self {
            Parser::Legacy(p) => p.finish(out),
            Parser::BuildKit(p) => p.finish(out),
        }
    }
}

/// Change detection. Reports `Skipped(Unchanged)` and returns true when
/// the inputs equal the last successful build's and its image is still
/// tagged; otherwise reports the inputs (for history) and why the build is
/// needed, and returns false.
async fn changed_or_reported(
    docker: &Docker,
    spec: &ImageConfig,
    dockerfile: &str,
    flags: &BuildFlags,
    history: &Arc<Mutex<History>>,
    entries: &[context::Entry],
    sink: &Sink,
) -> bool {
    let now = match inputs::compute(docker, spec, dockerfile, entries.to_vec()).await {
        Ok(i) => i,
        Err(e) => {
            sink.send(EngineEvent::Notice(format!(
                "cannot tell whether anything changed: {e}"
            )))
            .await;
            return false;
        }
    };
    let last = history
        .lock()
        .ok()
        .and_then(|h| h.last_success(&spec.name).ok().flatten());
    let skip_allowed = !flags.force && !flags.no_cache && !spec.no_cache;
    if let Some(last) = &last {
        if skip_allowed
            && last.digest == now.digest
            && inputs::still_present(docker, spec, &last.image_id).await
        {
            sink.send(EngineEvent::Skipped(SkipReason::Unchanged)).await;
            return true;
        }
    }
    let why = if !skip_allowed {
        "forced (--force or no_cache)".to_string()
    } else {
        inputs::explain_change(last.as_ref().and_then(|l| l.inputs.as_deref()), &now)
    };
    sink.send(EngineEvent::Inputs {
        digest: now.digest.clone(),
        inputs: now.to_json(),
    })
    .await;
    sink.send(EngineEvent::Notice(format!("rebuilding: {why}")))
        .await;
    false
}

/// Credentials for the registries the Dockerfile pulls from (private base
/// images), found as the docker CLI finds them. Legacy builds send them in
/// X-Registry-Config, BuildKit through its session. None when there are
/// none; a failing lookup is a notice, not a failure (the pull may not
/// need them).
async fn base_image_credentials(
    dockerfile: &std::path::Path,
    spec: &ImageConfig,
    sink: &Sink,
) -> Option<HashMap<String, bollard::auth::DockerCredentials>> {
    let text = tokio::fs::read_to_string(dockerfile).await.ok()?;
    let registries: std::collections::BTreeSet<String> =
        crate::config::dockerfile_refs(&text, &spec.args)
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
                "registry credentials unavailable: {e}"
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
                    "no credentials for {registry}: {e}"
                )))
                .await;
            }
        }
    }
    (!map.is_empty()).then_some(map)
}

/// BuildKit names a step by its instruction with build args substituted,
/// so `RUN login $TOKEN` would show (and be logged and stored) with the
/// token's value; so do the daemon's errors for a failed RUN. Put the
/// `$NAME` back for values long enough not to be mistaken for ordinary
/// text. (What a build itself prints is its own business.)
fn hide_arg_values(events: &mut [BuildEvent], args: &std::collections::BTreeMap<String, String>) {
    const MIN_LEN: usize = 4;
    for ev in events.iter_mut() {
        // The daemon's error for a failed RUN quotes the expanded command.
        let text = match ev {
            BuildEvent::Step { name, .. } => name,
            BuildEvent::StepDone { error: Some(e), .. } | BuildEvent::Error(e) => e,
            _ => continue,
        };
        for (key, value) in args {
            if value.len() >= MIN_LEN && text.contains(value.as_str()) {
                *text = text.replace(value.as_str(), &format!("${key}"));
            }
        }
    }
}

/// Send parsed events on, remembering the image id and the first error.
async fn forward(
    events: &mut Vec<BuildEvent>,
    sink: &Sink,
    image_id: &mut Option<String>,
    error: &mut Option<String>,
) -> bool {
    for ev in events.drain(..) {
        match &ev {
            BuildEvent::ImageId(id) => *image_id = Some(id.clone()),
            BuildEvent::Error(e) if error.is_none() => *error = Some(e.clone()),
            _ => {}
        }
        if !sink.send(EngineEvent::Build(ev)).await {
            return false;
        }
    }
    true
}

fn describe_stream_error(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        // The connection is fine; a line of the stream is not JSON.
        bollard::errors::Error::JsonDataError { message, .. } => {
            format!("the daemon sent a build message kiln cannot read: {message}")
        }
        bollard::errors::Error::JsonSerdeError { err } => {
            format!("the daemon sent malformed JSON in the build stream: {err}")
        }
        // tokio-util's framing: the body ended inside a JSON line.
        bollard::errors::Error::IOError { err }
            if err.to_string() == "bytes remaining on stream" =>
        {
            "the daemon ended the build stream in the middle of a message".into()
        }
        other => format!("lost the build stream from the daemon: {other}"),
    }
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

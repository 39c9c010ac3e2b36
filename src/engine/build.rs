//! One image's build on the daemon, turned into `EngineEvent`s on the app's
//! channel. The task owns the daemon stream; dropping it (on cancel) makes
//! the daemon abort the build and remove its intermediate container.
//!
//! Whether to build at all is the model's call (`ChangeCheck`): this works
//! out the build's inputs and compares them as told, with no access to the
//! history itself.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::app::event::BuilderKind;
use crate::app::{ChangeCheck, EngineEvent};
use crate::config::{BuilderChoice, ContextSource, Dockerfile, ImageConfig, Source};
use crate::engine::change::{self, compare_inputs, Change, InputsUse, Subject};
use crate::engine::connect::{self, Endpoint};
use crate::engine::context::{self, ContextSpec};
use crate::engine::credentials;
use crate::engine::inputs;
use crate::engine::parse::{BuildKitParser, LegacyParser};
use crate::engine::prebuilt;
use crate::engine::session::{self, BuildQuery, ContextSession};
use crate::engine::sink::Sink;
use crate::engine::steps::OwnSteps;
use crate::engine::transfer::{self, ContextUpload};
use crate::protocol::BuildEvent;

/// Run-wide build switches from the command line.
#[derive(Debug, Clone, Default)]
pub struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
    /// The daemon can run BuildKit builds (decides `builder: auto`).
    pub buildkit_available: bool,
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
                    sink.fail(
                        "an inline Dockerfile needs a directory context, not a git URL".into(),
                    )
                    .await;
                    return;
                };
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

/// The builder `builder: auto` means on this daemon.
fn choose_builder(choice: BuilderChoice, flags: &BuildFlags) -> BuilderKind {
    match choice {
        BuilderChoice::Legacy => BuilderKind::Legacy,
        BuilderChoice::BuildKit => BuilderKind::Buildkit,
        BuilderChoice::Auto if flags.buildkit_available => BuilderKind::Buildkit,
        BuilderChoice::Auto => BuilderKind::Legacy,
    }
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
/// cannot start falls back to the legacy builder (saying so).
async fn build_falling_back_to_legacy(job: &Job<'_>, check: ChangeCheck) {
    let builder = choose_builder(job.spec.builder, job.flags);
    let Outcome::SessionFailed(why) = build(job, &check, builder).await else {
        return;
    };
    if job.spec.builder != BuilderChoice::Auto {
        job.sink
            .fail(format!(
                "BuildKit could not start: {why} (try --builder legacy)"
            ))
            .await;
        return;
    }
    let note = format!("BuildKit could not start ({why}); falling back to the legacy builder");
    if job.sink.send(EngineEvent::Notice(note)).await {
        // The inputs were compared (and reported) by the first attempt.
        build(job, &ChangeCheck::Off, BuilderKind::Legacy).await;
    }
}

/// One build attempt: options, the context (unless it is unchanged), the
/// daemon's stream; the build's inputs, when only to be recorded, are
/// worked out while the daemon builds.
async fn build(job: &Job<'_>, check: &ChangeCheck, builder: BuilderKind) -> Outcome {
    // Each BuildKit build needs its own session on the daemon.
    let session_id = session::new_id();
    let mut options = build_options(job, builder, &session_id);
    let dockerfile = match job.context {
        ContextSource::Dir(root) => job.dockerfile.text_in(root),
        ContextSource::Git(_) => None,
    };
    let creds = match &dockerfile {
        Some(text) => base_image_credentials(text, job.spec, job.sink).await,
        None => None,
    };
    // Kept by the stream's reader: the daemon reads the context through it.
    let mut session = None;
    let (body, inputs) = match job.context {
        ContextSource::Git(url) => {
            options = options.remote(url);
            (bollard::body_full(bytes::Bytes::new()), BuildInputs::None)
        }
        ContextSource::Dir(root) => {
            let Some((local, inputs)) = local_context(job, root, check, builder).await else {
                return Outcome::Reported;
            };
            let upload = transfer::prepare(
                job.docker,
                builder,
                &session_id,
                local,
                creds.clone(),
                job.sink,
            );
            let upload = match upload.await {
                Ok(upload) => upload,
                Err(e) => {
                    job.sink
                        .fail(format!("cannot read the build context: {e}"))
                        .await;
                    return Outcome::Reported;
                }
            };
            match upload {
                ContextUpload::Session(s) => {
                    // bollard would start a session of its own for BuildKit:
                    // it is asked for a legacy build, which the session's
                    // query turns into this session's build.
                    options = options.version(BuilderVersion::BuilderV1);
                    session = Some(s);
                    (bollard::body_full(bytes::Bytes::new()), inputs)
                }
                ContextUpload::Tar(tar) => (bollard::body_try_stream(tar), inputs),
            }
        }
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

/// The inputs of a build that goes ahead whatever they are, worked out
/// while the daemon builds (handed to the stream's reader when ready).
async fn work_out_later(job: &Job<'_>, later: Option<LaterInputs>) {
    let Some(LaterInputs {
        registry,
        entries,
        spec,
        ready,
    }) = later
    else {
        return;
    };
    let entries = match entries {
        Some(entries) => Ok(entries),
        None => transfer::walk(spec).await,
    };
    let inputs = match entries {
        Ok(entries) => change::work_out(&job.subject(), registry, entries).await,
        Err(e) => {
            let why = format!("cannot tell whether anything changed: {e}");
            job.sink.send(EngineEvent::Notice(why)).await;
            None
        }
    };
    let _ = ready.send(inputs);
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
        BuilderKind::Legacy => BuilderVersion::BuilderV1,
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

/// A build's inputs (change detection, history), by when they are known.
enum BuildInputs {
    /// Not worked out (history is off, a git context, or they could not be).
    None,
    /// Worked out and reported before the build.
    Ready(inputs::Inputs),
    /// To be worked out while the daemon builds, from these entries (or
    /// the context walked then).
    Later {
        registry: bool,
        entries: Option<Vec<context::Entry>>,
        spec: ContextSpec,
    },
}

/// Inputs still being worked out: what to work them out from, and where
/// they go when ready.
struct LaterInputs {
    registry: bool,
    entries: Option<Vec<context::Entry>>,
    spec: ContextSpec,
    ready: tokio::sync::oneshot::Sender<Option<inputs::Inputs>>,
}

/// The inputs as the stream's reader gets them.
enum InputsFor {
    None,
    Ready(inputs::Inputs),
    Pending(tokio::sync::oneshot::Receiver<Option<inputs::Inputs>>),
}

impl BuildInputs {
    /// The reader's side, and the work to do meanwhile (if any).
    fn split(self) -> (InputsFor, Option<LaterInputs>) {
        match self {
            BuildInputs::None => (InputsFor::None, None),
            BuildInputs::Ready(i) => (InputsFor::Ready(i), None),
            BuildInputs::Later {
                registry,
                entries,
                spec,
            } => {
                let (ready, pending) = tokio::sync::oneshot::channel();
                let later = LaterInputs {
                    registry,
                    entries,
                    spec,
                    ready,
                };
                (InputsFor::Pending(pending), Some(later))
            }
        }
    }
}

impl InputsFor {
    /// The inputs, waiting for them if they are still being worked out;
    /// those worked out meanwhile are reported (for history) here.
    async fn settle(self, sink: &Sink) -> Option<inputs::Inputs> {
        match self {
            InputsFor::None => None,
            InputsFor::Ready(i) => Some(i),
            InputsFor::Pending(pending) => {
                let now = pending.await.ok().flatten()?;
                sink.send(EngineEvent::Inputs {
                    digest: now.digest.clone(),
                    inputs: now.to_json(),
                })
                .await;
                Some(now)
            }
        }
    }
}

impl Job<'_> {
    fn subject(&self) -> Subject<'_> {
        Subject {
            docker: self.docker,
            spec: self.spec,
            dockerfile: &self.dockerfile_name,
            stack_tags: &self.flags.stack_tags,
            sink: self.sink,
        }
    }
}

/// Find the Dockerfile and, unless a session build will not need them,
/// walk the context; with what becomes of the build's inputs. None when
/// nothing is left to do (it could not be read, or its inputs are
/// unchanged and the image was skipped).
async fn local_context<'a>(
    job: &Job<'_>,
    root: &'a std::path::Path,
    check: &ChangeCheck,
    builder: BuilderKind,
) -> Option<(transfer::LocalContext<'a>, BuildInputs)> {
    let spec = ContextSpec {
        root: root.to_path_buf(),
        dockerfile: job.dockerfile.clone(),
    };
    let use_ = change::inputs_use(check);
    // A BuildKit build reads its context through the session: the walk is
    // only for the inputs, and those only decide (first) under `Decide`.
    let walk_now = builder == BuilderKind::Legacy || matches!(use_, InputsUse::Decide);
    let found = {
        let spec = spec.clone();
        tokio::task::spawn_blocking(move || {
            let place = context::locate_dockerfile(&spec)?;
            let entries = walk_now.then(|| context::walk(&spec)).transpose()?;
            Ok::<_, context::ContextError>((place, entries))
        })
        .await
    };
    let (place, entries) = match found
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        Ok(found) => found,
        Err(e) => {
            job.sink
                .fail(format!("cannot read the build context: {e}"))
                .await;
            return None;
        }
    };
    let inputs = match use_ {
        InputsUse::None => BuildInputs::None,
        InputsUse::Record { why, registry } => {
            change::report_rebuild(&job.subject(), why).await;
            BuildInputs::Later {
                registry,
                entries: entries.clone(),
                spec: spec.clone(),
            }
        }
        InputsUse::Decide => {
            let entries = entries.as_deref().unwrap_or_default();
            match compare_inputs(&job.subject(), check, entries).await {
                Change::Unchanged => return None,
                Change::Build(Some(i)) => BuildInputs::Ready(i),
                Change::Build(None) => BuildInputs::None,
            }
        }
    };
    let local = transfer::LocalContext {
        root,
        place,
        spec,
        entries,
    };
    Some((local, inputs))
}

/// Read the daemon's build stream to its end: parse it, forward the
/// events (the steps made the image's own), and report the result.
async fn follow_stream(
    job: &Job<'_>,
    mut stream: impl futures::Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>>
        + Unpin,
    read: &mut StreamRead,
    inputs: InputsFor,
) -> Outcome {
    let (sink, builder) = (job.sink, read.builder);
    let mut started = false;
    while let Some(item) = stream.next().await {
        let mut events = Vec::new();
        match item {
            Ok(info) => read.parser.feed(&info, &mut events),
            Err(bollard::errors::Error::DockerStreamError { error: e }) => {
                events.push(BuildEvent::Error(e))
            }
            Err(e) => {
                // A daemon that does not answer is no reason to fall back
                // to another builder: say so, as at start.
                if let Some(down) = connect::unreachable(&e, job.flags.endpoint.as_ref()) {
                    job.sink.fail(down.to_string()).await;
                    return Outcome::Reported;
                }
                if builder == BuilderKind::Buildkit && !started {
                    // The legacy builder may try again: what the inputs
                    // are is known already.
                    inputs.settle(sink).await;
                    return Outcome::SessionFailed(describe_stream_error(&e));
                }
                read.error = Some(describe_stream_error(&e));
                break;
            }
        }
        if !started {
            started = true;
            if !sink.send(EngineEvent::Started { builder }).await {
                return Outcome::Reported;
            }
        }
        if !read.forward(events, job).await {
            return Outcome::Reported;
        }
    }
    if !started {
        if builder == BuilderKind::Buildkit && read.error.is_none() {
            inputs.settle(sink).await;
            return Outcome::SessionFailed("the daemon closed the build stream".into());
        }
        if !sink.send(EngineEvent::Started { builder }).await {
            return Outcome::Reported;
        }
    }
    if read.finish(job, inputs).await && read.note_transfer(sink).await {
        report_result(sink, read.error.take(), read.image_id.take()).await;
    }
    Outcome::Reported
}

/// The end of a build: built with its image id, or failed.
async fn report_result(sink: &Sink, error: Option<String>, image_id: Option<String>) {
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
}

/// One build stream as it is read: the parser, the image's own steps, and
/// what the stream said of the result.
struct StreamRead {
    builder: BuilderKind,
    parser: Parser,
    steps: OwnSteps,
    /// The build pulls its bases: its inputs are brought up to date once
    /// it has.
    pulls: bool,
    /// The session the daemon reads the context through, kept open while
    /// the stream is read.
    session: Option<ContextSession>,
    image_id: Option<String>,
    /// The first error the daemon reported (or the stream broke with).
    error: Option<String>,
}

impl StreamRead {
    fn new(builder: BuilderKind, steps: OwnSteps, pulls: bool) -> Self {
        StreamRead {
            builder,
            parser: Parser::new(builder),
            steps,
            pulls,
            session: None,
            image_id: None,
            error: None,
        }
    }

    /// What the daemon pulled through the session (the docker CLI shows
    /// "transferring context"); false when the app has gone away.
    async fn note_transfer(&self, sink: &Sink) -> bool {
        match self.session.as_ref().and_then(ContextSession::summary) {
            Some(note) => sink.send(EngineEvent::Notice(note)).await,
            None => true,
        }
    }

    /// Send parsed events on as the image's own, remembering the image id
    /// and the first error; false when the app has gone away.
    async fn forward(&mut self, mut events: Vec<BuildEvent>, job: &Job<'_>) -> bool {
        self.steps.rewrite(&mut events);
        hide_arg_values(&mut events, &job.spec.args);
        for ev in events {
            match &ev {
                BuildEvent::ImageId(id) => self.image_id = Some(id.clone()),
                BuildEvent::Error(e) if self.error.is_none() => self.error = Some(e.clone()),
                _ => {}
            }
            if !job.sink.send(EngineEvent::Build(ev)).await {
                return false;
            }
        }
        true
    }

    /// The end of the stream: what the parser held back and, after a
    /// success, the image's steps the stream never showed and its inputs.
    async fn finish(&mut self, job: &Job<'_>, inputs: InputsFor) -> bool {
        let mut events = Vec::new();
        self.parser.finish(&mut events);
        if !self.forward(events, job).await {
            return false;
        }
        if self.error.is_some() || self.image_id.is_none() {
            return true;
        }
        let mut unseen = Vec::new();
        self.steps.unseen(&mut unseen);
        if !self.forward(unseen, job).await {
            return false;
        }
        match inputs.settle(job.sink).await {
            Some(inputs) if self.pulls => record_pulled_bases(job, inputs).await,
            _ => true,
        }
    }
}

/// After a build that pulled: its inputs with the base images it pulled
/// (the legacy builder tags them on the daemon), so the next build compares
/// against what this one used.
async fn record_pulled_bases(job: &Job<'_>, mut inputs: inputs::Inputs) -> bool {
    let before = inputs.digest.clone();
    inputs::refresh_local_bases(job.docker, &mut inputs).await;
    if inputs.digest == before {
        return true;
    }
    job.sink
        .send(EngineEvent::Inputs {
            digest: inputs.digest.clone(),
            inputs: inputs.to_json(),
        })
        .await
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
        crate::config::dockerfile_refs(dockerfile_text, &spec.args)
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
    }
}

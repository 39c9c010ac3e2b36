//! One image's build on the daemon, turned into `EngineEvent`s on the app's
//! channel. The task owns the daemon stream; dropping it (on cancel) makes
//! the daemon abort the build and remove its intermediate container.

use std::collections::HashMap;
use std::time::Instant;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion};
use bollard::Docker;
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::app::event::{BuilderKind, Phase, SkipReason};
use crate::app::{EngineEvent, Msg, RunId};
use crate::config::{ContextSource, ImageConfig, Source};
use crate::engine::context::{self, ContextSpec};
use crate::engine::parse::{BuildEvent, LegacyParser};

/// Run-wide build switches from the command line.
#[derive(Debug, Clone, Default)]
pub struct BuildFlags {
    pub no_cache: bool,
    pub pull: bool,
}

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

    async fn fail(&self, error: String) {
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
    sink: Sink,
    cancel: CancellationToken,
) {
    let work = async {
        match &spec.source {
            Source::Prebuilt { image } => check_prebuilt(&docker, image, &sink).await,
            Source::Build {
                context,
                dockerfile,
            } => legacy_build(&docker, &spec, context, dockerfile, &flags, &sink).await,
        }
    };
    tokio::select! {
        // Dropping `work` drops the daemon stream, which cancels the build.
        _ = cancel.cancelled() => {}
        _ = work => {}
    }
}

async fn check_prebuilt(docker: &Docker, image: &str, sink: &Sink) {
    match docker.inspect_image(image).await {
        Ok(_) => {
            sink.send(EngineEvent::Skipped(SkipReason::Prebuilt)).await;
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => {
            sink.fail(format!(
                "prebuilt image {image} is not present on the daemon; pull or load it first (docker pull {image})"
            ))
            .await
        }
        Err(e) => sink.fail(format!("cannot inspect prebuilt image {image}: {e}")).await,
    }
}

async fn legacy_build(
    docker: &Docker,
    spec: &ImageConfig,
    context: &ContextSource,
    dockerfile: &str,
    flags: &BuildFlags,
    sink: &Sink,
) {
    let mut options = BuildImageOptionsBuilder::new()
        .dockerfile(dockerfile)
        .rm(true)
        .forcerm(true)
        .nocache(spec.no_cache || flags.no_cache)
        .version(BuilderVersion::BuilderV1);
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
                    return sink
                        .fail(format!("cannot read the build context: {e}"))
                        .await
                }
                Err(e) => {
                    return sink
                        .fail(format!("cannot read the build context: {e}"))
                        .await
                }
            };
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
    let docker = if extra.is_empty() {
        docker.clone()
    } else {
        docker
            .clone()
            .with_request_modifier(move |req| add_query(req, "/build", &extra))
    };

    if !sink
        .send(EngineEvent::Started {
            builder: BuilderKind::Legacy,
        })
        .await
    {
        return;
    }
    let mut stream = docker.build_image(options.build(), None, Some(body));
    let mut parser = LegacyParser::new();
    let mut events = Vec::new();
    let mut image_id = None;
    let mut error = None;
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => parser.feed(&info, &mut events),
            Err(bollard::errors::Error::DockerStreamError { error: e }) => {
                events.push(BuildEvent::Error(e))
            }
            Err(e) => {
                error = Some(describe_stream_error(&e));
                break;
            }
        }
        if !forward(&mut events, sink, &mut image_id, &mut error).await {
            return;
        }
    }
    parser.finish(&mut events);
    if !forward(&mut events, sink, &mut image_id, &mut error).await {
        return;
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

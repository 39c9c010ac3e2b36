//! Reading a build's stream from the daemon: parse it, make the steps the
//! image's own, hide build-arg values, forward the events, and report the
//! result (with the build's inputs, for history).

use futures::StreamExt;

use crate::engine::connect;
use crate::engine::inputs;
use crate::engine::parse::{BuildKitParser, BuildahParser, LegacyParser};
use crate::engine::session::ContextSession;
use crate::engine::sink::Sink;
use crate::engine::steps::OwnSteps;
use crate::protocol::{BuildEvent, BuilderKind, EngineEvent};

use super::build_inputs::InputsFor;
use super::{Job, Outcome};

/// Read the daemon's build stream to its end: parse it, forward the
/// events (the steps made the image's own), and report the result.
pub(super) async fn follow_stream(
    job: &Job<'_>,
    mut stream: impl futures::Stream<Item = Result<bollard::models::BuildInfo, bollard::errors::Error>>
        + Unpin,
    read: &mut StreamRead,
    inputs: InputsFor,
) -> Outcome {
    let (sink, builder) = (job.sink, read.builder);
    let mut started = false;
    loop {
        let mut events = Vec::new();
        let item = match next_item(&mut stream, &read.parser).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(()) => {
                read.parser.release(&mut events);
                if !read.forward(events, job).await {
                    return Outcome::Reported;
                }
                continue;
            }
        };
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
                if ended_after_the_id(&e, read) {
                    if !confirm_image(job, read).await {
                        return Outcome::Reported;
                    }
                    break;
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

/// bollard's JSON line decoder (0.21, bollard issue #560) keeps a lone `\r`
/// when a message's `}` and its `\r\n` arrive in separate reads, and at
/// the end of the body reports "bytes remaining on stream" for it: after a
/// build that gave its image id and no error, that is most likely a clean
/// end, which [`confirm_image`] checks on the daemon.
fn ended_after_the_id(e: &bollard::errors::Error, read: &StreamRead) -> bool {
    read.image_id.is_some() && read.error.is_none() && is_cut_mid_message(e)
}

/// The notice of a build confirmed on the daemon after its stream ended
/// with bytes kiln could not read (`scripts/stress-build-stream` counts it).
pub const CONFIRMED: &str = "the build stream ended with bytes kiln could not read after the image id; the image and its tags were confirmed on the daemon";

/// tokio-util's framing: the body ended with bytes the decoder kept.
fn is_cut_mid_message(e: &bollard::errors::Error) -> bool {
    matches!(e, bollard::errors::Error::IOError { err } if err.to_string() == "bytes remaining on stream")
}

/// The stream ended with bytes kiln could not read after the image id: the
/// build counts as done when the daemon has the image and every tag names
/// it (a notice says so); else the error says what is missing. False when
/// the app has gone away.
async fn confirm_image(job: &Job<'_>, read: &mut StreamRead) -> bool {
    let Some(id) = read.image_id.as_deref() else {
        return true;
    };
    let cut = "the daemon ended the build stream in the middle of a message";
    if job.docker.inspect_image(id).await.is_err() {
        read.error = Some(format!("{cut}, and has no image {id}"));
        return true;
    }
    for tag in &job.spec.tags {
        match job.docker.inspect_image(tag).await {
            Ok(info) if info.id.as_deref() == Some(id) => {}
            _ => {
                read.error = Some(format!("{cut}, and {tag} does not name image {id}"));
                return true;
            }
        }
    }
    job.sink.send(EngineEvent::Notice(CONFIRMED.into())).await
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
pub(super) struct StreamRead {
    builder: BuilderKind,
    parser: Parser,
    steps: OwnSteps,
    /// The build pulls its bases: its inputs are brought up to date once
    /// it has.
    pulls: bool,
    /// The session the daemon reads the context through, kept open while
    /// the stream is read.
    pub(super) session: Option<ContextSession>,
    image_id: Option<String>,
    /// The first error the daemon reported (or the stream broke with).
    error: Option<String>,
}

impl StreamRead {
    pub(super) fn new(builder: BuilderKind, steps: OwnSteps, pulls: bool) -> Self {
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
    Buildah(BuildahParser),
}

impl Parser {
    fn new(builder: BuilderKind) -> Self {
        match builder {
            BuilderKind::Legacy => Parser::Legacy(LegacyParser::new()),
            BuilderKind::Buildkit => Parser::BuildKit(BuildKitParser::new()),
            BuilderKind::Buildah => Parser::Buildah(BuildahParser::new()),
        }
    }

    fn feed(&mut self, info: &bollard::models::BuildInfo, out: &mut Vec<BuildEvent>) {
        match self {
            Parser::Legacy(p) => p.feed(info, out),
            Parser::BuildKit(p) => p.feed_info(info, out),
            Parser::Buildah(p) => p.feed(info, out),
        }
    }

    fn finish(&mut self, out: &mut Vec<BuildEvent>) {
        match self {
            Parser::Legacy(p) => p.finish(out),
            Parser::BuildKit(p) => p.finish(out),
            Parser::Buildah(p) => p.finish(out),
        }
    }

    /// A step header held back until the next line says whether the step
    /// is cached (buildah's cache hits follow their header at once; a RUN
    /// may print nothing for long).
    fn holds_step(&self) -> bool {
        matches!(self, Parser::Buildah(p) if p.holds_step())
    }

    fn release(&mut self, out: &mut Vec<BuildEvent>) {
        if let Parser::Buildah(p) = self {
            p.release(out);
        }
    }
}

/// How long a held-back step waits for the line that says it is cached
/// before it is shown as running.
const HOLD_STEP: std::time::Duration = std::time::Duration::from_secs(1);

/// The stream's next item; a step the parser holds back is let go when
/// the daemon says nothing for [`HOLD_STEP`] (`Err` then).
async fn next_item<S: futures::Stream + Unpin>(
    stream: &mut S,
    parser: &Parser,
) -> Result<Option<S::Item>, ()> {
    if parser.holds_step() {
        tokio::time::timeout(HOLD_STEP, stream.next())
            .await
            .map_err(|_| ())
    } else {
        Ok(stream.next().await)
    }
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
        e if is_cut_mid_message(e) => {
            "the daemon ended the build stream in the middle of a message".into()
        }
        other => format!("lost the build stream from the daemon: {other}"),
    }
}

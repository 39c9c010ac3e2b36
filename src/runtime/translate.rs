//! Between the model and the engine, which do not know each other: the
//! engine's reports become the model's messages, and the model's commands
//! for the engine become the engine's requests. A new kind of report (a new
//! engine, a new watcher) is mapped here, and nowhere else.

use crate::app::{Command, Msg};
use crate::engine::executor::Request;
use crate::engine::report::Report;

/// The model's message for what the engine reported.
pub(super) fn message(report: Report) -> Msg {
    match report {
        Report::Run {
            run,
            image,
            at,
            event,
        } => Msg::Engine {
            run,
            image,
            at,
            event,
        },
        Report::Watch(event) => Msg::Watch(event),
        Report::EngineBack {
            engine,
            present,
            at,
        } => Msg::EngineBack {
            engine,
            present,
            at,
        },
    }
}

/// The engine's request for a command of the model's, if it is one for
/// the engine.
pub(super) fn request(command: Command) -> Option<Request> {
    Some(match command {
        Command::StartBuild {
            run,
            image,
            overrides,
            check,
            placement,
        } => Request::Build {
            run,
            image,
            placement,
            overrides,
            check,
        },
        Command::Push {
            run,
            image,
            tags,
            engine,
        } => Request::Push {
            run,
            image,
            tags,
            engine,
        },
        Command::Cancel { run, image } => Request::Cancel { run, image },
        Command::Emit(_)
        | Command::RecordInputs { .. }
        | Command::RecordTags { .. }
        | Command::RecordBases { .. }
        | Command::ShowLog { .. }
        | Command::Copy(_)
        | Command::MouseCapture(_)
        | Command::Watch { .. }
        | Command::Unwatch
        | Command::UseStack(_)
        | Command::RejoinEngine { .. }
        | Command::Quit => return None,
    })
}

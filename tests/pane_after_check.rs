//! An unchanged check does not wipe the pane (issue 22 §1): the image's
//! last log stays, with one line saying it was checked and unchanged; a
//! build that does start gets a fresh pane.
#![allow(clippy::unwrap_used, clippy::string_slice)]

mod model_support;

use kiln::protocol::{EngineEvent, SkipReason};
use model_support::*;

fn pane(app: &kiln::app::App, image: usize) -> Vec<String> {
    app.images[image]
        .log
        .iter()
        .map(|l| l.text.clone())
        .collect()
}

#[test]
fn an_unchanged_check_keeps_the_log_with_one_line_more() {
    let mut app = app();
    build(&mut app, &[BASE], 0.0);
    started(&mut app, BASE, 0.1);
    log(&mut app, BASE, "compiling the base", 0.2);
    built(&mut app, BASE, 1.0);

    build(&mut app, &[BASE], 10.0);
    engine(
        &mut app,
        BASE,
        10.5,
        EngineEvent::Skipped(SkipReason::Unchanged),
    );
    let lines = pane(&app, BASE);
    assert!(lines.iter().any(|l| l == "compiling the base"), "{lines:?}");
    let checked: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("checked again: unchanged"))
        .collect();
    assert_eq!(checked.len(), 1, "{lines:?}");
    assert_eq!(lines.last(), checked.last().copied(), "{lines:?}");

    // A build that starts replaces it.
    build(&mut app, &[BASE], 20.0);
    started(&mut app, BASE, 20.1);
    let lines = pane(&app, BASE);
    assert!(
        !lines.iter().any(|l| l == "compiling the base"),
        "{lines:?}"
    );
}

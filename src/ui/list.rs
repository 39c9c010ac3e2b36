//! The image list: status symbol and colour, name (and a mark for edits
//! not built yet), what the image is doing or how it ended (step, queue
//! place, the reason of a failure, the last push, history's last run), and
//! its timers, with a loud live `silent 1m12s` for a stalled build that is
//! never cut. Narrow screens get compact rows: symbol, name and timer.
//! Times come from `app.now`. The row's words are shared with the pane
//! titles (`state_text`, `timer`).

use std::time::Duration;

use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::{truncate, Theme};

use crate::app::image::ImageState;
use crate::app::status::Status;
use crate::app::view::{self, list_offset, Focus, Mode};
use crate::app::App;
use crate::human::{format_duration, human_bytes};
use crate::protocol::{Phase, RunResult, SkipReason};

/// Below this many columns a row leaves its state out: symbol, name and
/// timer (the pane's title has the rest).
const MIN_DETAIL: usize = 6;
/// Below this many columns a running build's cut state would lose its
/// step: the row says `4/9` instead.
const STEP_ROOM: usize = 12;

pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let focused = app.view.focus == Focus::List;
    let visible = view::visible_images(app);
    let block = Block::bordered()
        .title(title(app, visible.len()))
        .border_style(theme.border(focused));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = inner.width as usize;
    if visible.is_empty() {
        frame.render_widget(
            Paragraph::new(truncate("no image matches: Esc shows all", width))
                .style(theme.fg(Color::DarkGray).add_modifier(Modifier::DIM)),
            inner,
        );
        return;
    }
    let rows = inner.height as usize;
    let offset = list_offset(view::selected_row(app, &visible).unwrap_or(0), rows);
    let name_width =
        (view::list_layout(app, frame.area().width).name as usize).min(width.saturating_sub(2));
    let lines: Vec<Line> = visible
        .iter()
        .skip(offset)
        .take(rows)
        .map(|&i| row(app, theme, i, name_width, width))
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// " images (4) ", with what the filters show: " images (2/20) /web ! ".
fn title(app: &App, shown: usize) -> String {
    let total = app.images.len();
    let mut title = if shown == total {
        format!(" images ({total})")
    } else {
        format!(" images ({shown}/{total})")
    };
    if let Some(filter) = &app.view.filter {
        title.push_str(&format!(" /{filter}"));
        if matches!(app.view.mode, Mode::Filter) {
            title.push('▏');
        }
    }
    if app.view.problems_only {
        title.push_str(" !failed");
    }
    title.push(' ');
    title
}

/// How long a stalled image has been silent, as the list and panes show it.
pub fn silent_label(app: &App, img: &ImageState) -> Option<String> {
    let Status::Stalled(_) = img.status else {
        return None;
    };
    let silent = img.silent_for(app.now?)?;
    Some(format!("silent {}", format_duration(silent)))
}

/// The image's symbol and its style: its state's, or for an image not
/// built in this session, its last run's (dimmed); a stale image's `⟳`.
pub fn symbol(theme: &Theme, img: &ImageState) -> (&'static str, Style) {
    if img.stale.is_some() && !img.status.is_pending() {
        return ("⟳", theme.fg(Color::Magenta));
    }
    match (img.status, img.last_run.as_ref().map(|r| r.result)) {
        (Status::Idle, Some(result)) => {
            let (symbol, style) = theme.status(match result {
                RunResult::Built => Status::Done,
                RunResult::Failed => Status::Failed(Phase::Build),
                RunResult::TimedOut => Status::TimedOut,
                RunResult::Cancelled | RunResult::Unfinished => Status::Cancelled,
                RunResult::Running => Status::Building,
            });
            (symbol, style.add_modifier(Modifier::DIM))
        }
        (status, _) => theme.status(status),
    }
}

/// What the image is doing now, or how it ended, in a few words (the list
/// row; `full` for a pane title: the running step's whole name).
pub fn state_text(app: &App, i: usize, full: bool) -> String {
    let img = &app.images[i];
    if let Some(base) = img.stale.as_ref().filter(|_| !img.status.is_pending()) {
        return format!("stale: {base} rebuilt");
    }
    match img.status {
        Status::Idle => history_text(app, img),
        Status::Queued => queue_text(app, i),
        Status::Building | Status::Stalled(Phase::Build) => match (&img.transfer, img.engine) {
            (Some(t), _) => format!("moving {} {}", t.of, human_bytes(t.bytes)),
            (None, Some(e)) if !app.engines.is_empty() => {
                let name = app.engines.get(e).map_or("?", |x| x.name.as_str());
                format!("{} on {name}", build_text(img, full))
            }
            _ => build_text(img, full),
        },
        Status::Pushing | Status::Stalled(Phase::Push) => match img.push.bytes() {
            (done, total) if total > 0 => {
                format!("pushing {}%", done.saturating_mul(100) / total)
            }
            _ => "pushing".into(),
        },
        Status::Done => match img.engine.and_then(|e| app.engines.get(e)) {
            Some(e) => format!("{} on {}", done_text(img, full), e.name),
            None => done_text(img, full),
        },
        Status::Failed(_) | Status::TimedOut | Status::Cancelled => {
            img.reason().unwrap_or_else(|| img.status.label().into())
        }
        Status::Skipped(SkipReason::DependencyFailed) => format!(
            "skipped: {}",
            img.skip_cause.as_deref().unwrap_or("a dependency failed")
        ),
        Status::Skipped(_) => img.status.label().into(),
    }
}

/// An image not built in this session: its last run from history, or idle.
fn history_text(app: &App, img: &ImageState) -> String {
    let Some(run) = &img.last_run else {
        return "idle".into();
    };
    let ago = app
        .now
        .and_then(|now| run.age(now))
        .map(|a| format!(" {} ago", format_duration(a)))
        .unwrap_or_default();
    let result = match run.result {
        RunResult::Built => "built",
        RunResult::Failed => "failed",
        RunResult::TimedOut => "timed out",
        RunResult::Cancelled => "cancelled",
        RunResult::Unfinished => "never finished",
        RunResult::Running => "building in another kiln",
    };
    match img
        .last_run_reason()
        .filter(|_| run.result == RunResult::Failed)
    {
        Some(reason) => format!("{result}{ago}: {reason}"),
        None => format!("{result}{ago}"),
    }
}

/// `waiting for base` (a dependency is not ready) or `queued (3rd)` (its
/// place among those waiting only for a free job slot).
fn queue_text(app: &App, i: usize) -> String {
    let blocking = app.deps[i]
        .iter()
        .find(|&&d| !app.images[d].status.lets_dependents_build());
    if let Some(&d) = blocking {
        return format!("waiting for {}", app.images[d].name);
    }
    let ready = |j: &usize| {
        app.images[*j].status == Status::Queued
            && app.deps[*j]
                .iter()
                .all(|&d| app.images[d].status.lets_dependents_build())
    };
    let place = app
        .order
        .iter()
        .filter(|j| ready(j))
        .position(|&j| j == i)
        .unwrap_or(0)
        + 1;
    format!("queued ({})", ordinal(place))
}

/// 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, …
fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// A running build: its step (`step 3/4` in the list, the step's whole
/// name in a title) and cache hits.
/// A running build's step in a few columns: `2/3`, or the `4/9` of
/// BuildKit's `[4/9] RUN …` (a stage's `[builder 4/9]` too).
fn short_step(img: &ImageState) -> Option<String> {
    if !matches!(img.status, Status::Building | Status::Stalled(Phase::Build)) {
        return None;
    }
    let step = img.current_step.and_then(|s| img.steps.get(s))?;
    if let (Some(i), Some(n)) = (step.index, step.total) {
        return Some(format!("{i}/{n}"));
    }
    let inside = step.name.strip_prefix('[')?.split(']').next()?;
    let count = inside.rsplit(' ').next()?;
    count
        .split_once('/')
        .filter(|(a, b)| !a.is_empty() && a.chars().chain(b.chars()).all(|c| c.is_ascii_digit()))
        .map(|_| count.to_string())
}

fn build_text(img: &ImageState, full: bool) -> String {
    let step = img.current_step.and_then(|s| img.steps.get(s));
    let mut text = match (step, full) {
        (Some(s), false) if s.index.is_some() && s.total.is_some() => {
            format!("step {}/{}", s.index.unwrap_or(0), s.total.unwrap_or(0))
        }
        _ => img.step_label().unwrap_or_else(|| "starting".into()),
    };
    let cached = img.cached_steps();
    if cached > 0 && !full {
        text.push_str(&format!(" ·{cached} cached"));
    }
    text
}

/// A finished build: its push (`pushed 12.3 MB in 4s`, with the digest in
/// a title), else its steps and cache hits.
fn done_text(img: &ImageState, full: bool) -> String {
    match img.push.pushed.as_slice() {
        [] => {}
        [one] if full => return one.summary(),
        [one] => return one.short(),
        many => {
            let bytes: u64 = many.iter().map(|p| p.bytes).sum();
            let took: Duration = many.iter().map(|p| p.took).sum();
            return format!(
                "pushed {} tags, {} in {}",
                many.len(),
                crate::human::human_bytes(bytes),
                format_duration(took)
            );
        }
    }
    if img.push_only {
        return "done".into();
    }
    let steps = img.dockerfile_steps().count();
    let cached = img.cached_steps();
    let noun = if steps == 1 { "step" } else { "steps" };
    match (steps, cached) {
        (0, _) => "built".into(),
        (_, 0) => format!("built, {steps} {noun}"),
        (_, c) => format!("built, {steps} {noun}, {c} cached"),
    }
}

/// The image's timer: `silent 47s` (stalled: loud), the elapsed time (and
/// `~40s left` with history), the build's time beside the push's
/// (`477ms ⇡4s`), or how long history's last run took.
pub fn timer(app: &App, img: &ImageState) -> (String, bool) {
    if let Some(silent) = silent_label(app, img) {
        return (silent, true);
    }
    let now = app.now;
    if img.status == Status::Idle {
        let took = img.last_run.as_ref().and_then(|r| r.duration);
        return (took.map(format_duration).unwrap_or_default(), false);
    }
    if img.status == Status::Queued {
        return (String::new(), false);
    }
    let elapsed = now.and_then(|n| img.elapsed(n));
    if let (Some(build), Some(push_start)) = (img.build_time, img.push.started) {
        let end = img.finished_at.or(now).unwrap_or(push_start);
        let push = end.saturating_duration_since(push_start);
        return (
            format!("{} ⇡{}", format_duration(build), format_duration(push)),
            false,
        );
    }
    let mut text = elapsed.map(format_duration).unwrap_or_default();
    if let Some(left) = now.and_then(|n| img.eta(n)) {
        text.push_str(&format!(" ~{} left", format_duration(left)));
    }
    (text, false)
}

fn row(app: &App, theme: &Theme, i: usize, name_width: usize, width: usize) -> Line<'static> {
    let img = &app.images[i];
    let (symbol, style) = symbol(theme, img);
    let mut name_style = Style::default();
    if i == app.view.selected {
        name_style = name_style.add_modifier(Modifier::REVERSED | Modifier::BOLD);
    }
    let mark = if view::pending_edits(app, i) {
        " ✎"
    } else {
        ""
    };
    let name = truncate(&img.name, name_width.saturating_sub(mark.width()).max(1));
    let name_pad = name_width.saturating_sub(name.width() + mark.width());
    let (right, loud) = timer(app, img);
    let right_style = if loud {
        theme.loud()
    } else {
        theme.fg(Color::DarkGray)
    };
    let used = 2 + name_width + 1;
    let room = width.saturating_sub(used + 1);
    // The timer is never cut; the state gets what room is left, if any.
    let right = truncate(&right, room);
    let detail_room = room.saturating_sub(right.width() + 1);
    let state = state_text(app, i, false);
    // Where the state does not fit, a running build still says its step.
    let short = short_step(img).filter(|s| s.width() <= detail_room);
    let detail = match short {
        Some(short) if state.width() > detail_room && detail_room < STEP_ROOM => short,
        _ if detail_room < MIN_DETAIL => String::new(),
        _ => truncate(&state, detail_room),
    };
    let pad = width.saturating_sub(used + detail.width() + right.width());
    let detail_style = match img.status {
        Status::Idle | Status::Queued => theme.fg(Color::DarkGray),
        _ => style.remove_modifier(Modifier::BOLD),
    };
    Line::from(vec![
        Span::styled(symbol, style),
        Span::raw(" "),
        Span::styled(name, name_style),
        Span::styled(mark, theme.fg(Color::Yellow)),
        Span::raw(" ".repeat(name_pad + 1)),
        Span::styled(detail, detail_style),
        Span::raw(" ".repeat(pad)),
        Span::styled(right, right_style),
    ])
}

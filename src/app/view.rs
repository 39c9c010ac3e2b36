//! The dashboard's view state: what is selected and focused, which mode
//! keys go to (an overlay, the search being typed, the edit prompt), the
//! last search. Part of the model, read by `ui::draw`, changed only in
//! `update` (keys and mouse through `keys`, the terminal size on
//! `Msg::Resize`); `color` is given once, at the start, by the front-end
//! (`App::with_color`, from NO_COLOR). Also the screen geometry both sides
//! share, so a mouse click lands on the row that was drawn there. No I/O,
//! no clock, no environment reads.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui_textarea::TextArea;
use unicode_width::UnicodeWidthStr;

use super::image::ImageState;
use super::log::LogRing;
use super::status::Status;
use super::App;
use crate::config::Config;
use crate::protocol::{ImageOverride, RunResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    /// ↑/↓ move the selection.
    #[default]
    List,
    /// ↑/↓ scroll the log pane.
    Pane,
}

/// Which keys the dashboard is reading, and for what: each mode has its
/// handler in `keys` and its rows in `keys::table`.
#[derive(Debug, Default)]
pub enum Mode {
    /// Keys select, scroll and act on images.
    #[default]
    Normal,
    /// The `?` overlay is open.
    Help,
    /// The query of `View::search` is being typed.
    Search,
    /// The list's filter (`View::filter`) is being typed.
    Filter,
    /// The edit prompt (`e`) is open: keys go to its text area.
    Edit(Box<EditPrompt>),
    /// `q` while builds run: waiting for y/n.
    ConfirmQuit,
}

/// The last search (`/`): it stays after its query is typed, for `n`/`N`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Search {
    pub query: String,
    /// Line indices (into the selected image's log ring) that match.
    pub matches: Vec<usize>,
    /// Index into `matches` of the match shown.
    pub current: Option<usize>,
}

impl Search {
    /// Smart case: a query with an upper-case letter is case-sensitive.
    pub fn is_match(&self, text: &str) -> bool {
        !self.query.is_empty() && find_all(text, &self.query).next().is_some()
    }
}

/// Byte ranges of `query` in `text`, smart case (see [`Search::is_match`]).
pub fn find_all<'a>(text: &'a str, query: &'a str) -> impl Iterator<Item = (usize, usize)> + 'a {
    let fold = !query.chars().any(char::is_uppercase);
    let (hay, needle) = if fold {
        (text.to_lowercase(), query.to_lowercase())
    } else {
        (text.to_string(), query.to_string())
    };
    // Lower-casing can change byte lengths (rare scripts): then only exact
    // matches are safe to map back onto `text`.
    let (hay, needle) = if hay.len() == text.len() {
        (hay, needle)
    } else {
        (text.to_string(), query.to_string())
    };
    let mut out = Vec::new();
    if !needle.is_empty() {
        let mut from = 0;
        while let Some(pos) = hay.get(from..).and_then(|rest| rest.find(&needle)) {
            let start = from + pos;
            let end = start + needle.len();
            if text.is_char_boundary(start) && text.is_char_boundary(end) {
                out.push((start, end));
            }
            from = end;
        }
    }
    out.into_iter()
}

/// The edit prompt (`e`): a text area over the selected image's args, tags
/// and target for the next run.
#[derive(Debug)]
pub struct EditPrompt {
    pub image: usize,
    pub textarea: TextArea<'static>,
    /// Why the last Enter was refused.
    pub error: Option<String>,
    /// Why the last key did nothing (e.g. Delete at the end of a line).
    pub note: Option<String>,
}

pub struct View {
    /// Index (config order) of the selected image.
    pub selected: usize,
    pub focus: Focus,
    /// A grid of panes, one per active image.
    pub tiled: bool,
    /// Where keys go.
    pub mode: Mode,
    pub search: Option<Search>,
    /// The front-end should leave.
    pub quit: bool,
    /// Terminal size, from `Msg::Resize`.
    pub width: u16,
    pub height: u16,
    /// Draw with colours (false under NO_COLOR: modifiers and symbols only).
    pub color: bool,
    /// A one-line message for the status bar (cleared by the next key).
    pub message: Option<String>,
    /// The config's args/tags/target per image (None: prebuilt), the edit
    /// prompt's starting text when no override is set.
    pub defaults: Vec<Option<ImageOverride>>,
    /// Long log lines wrap (`w`); else they are cut at the pane's edge and
    /// `hscroll` columns scroll them sideways (←/→).
    pub wrap: bool,
    pub hscroll: usize,
    /// The log pane takes the whole screen (`z`).
    pub zoom: bool,
    /// The dashboard captures the mouse (`m` leaves it to the terminal).
    pub mouse: bool,
    /// The list shows only images whose name contains this (`/` on the
    /// list; smart case, like the search).
    pub filter: Option<String>,
    /// The list shows only failed, stalled and timed-out images (`!`).
    pub problems_only: bool,
    /// How far the `?` overlay is scrolled down (rows).
    pub help_scroll: usize,
}

impl View {
    pub fn new(config: &Config) -> View {
        View {
            selected: 0,
            focus: Focus::List,
            tiled: false,
            mode: Mode::Normal,
            search: None,
            quit: false,
            width: 80,
            height: 24,
            color: true,
            message: None,
            defaults: ImageOverride::from_config(config),
            wrap: false,
            hscroll: 0,
            zoom: false,
            mouse: true,
            filter: None,
            problems_only: false,
            help_scroll: 0,
        }
    }

    /// The edit prompt, while it is open.
    pub fn prompt(&self) -> Option<&EditPrompt> {
        match &self.mode {
            Mode::Edit(prompt) => Some(prompt),
            _ => None,
        }
    }
}

/// Where things are on the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub list: Rect,
    pub pane: Rect,
    pub status: Rect,
    /// The main area (list + pane), where tiles go in tiled mode.
    pub main: Rect,
}

/// Below this width the list goes above the pane instead of beside it.
const NARROW: u16 = 60;
/// Columns the log pane keeps beside a full list.
const MIN_PANE: u16 = 50;
/// A full row's room after the name: its state, step, cache hits, timers.
const DETAIL: u16 = 32;
/// Below this a row is compact: symbol, name and a timer.
const MIN_DETAIL: u16 = 20;
/// The compact row's timer (`silent 59m59s`).
const TIMER: u16 = 13;
/// From this width on, the list may grow for long steps.
const WIDE: u16 = 160;
/// Beside a running build's step: its cache hits and timers
/// (` ·2 cached  1m02s ~40s left`).
const STEP_TIMERS: usize = 24;
/// The compact row's step (`12/14`).
const SHORT_STEP: u16 = 6;

/// How the list is laid out: its width, the names' column, and whether
/// rows are full (state, step, timers) or compact (symbol, name, timer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLayout {
    pub width: u16,
    /// The names' column (with room for the pending-edits mark).
    pub name: u16,
    pub compact: bool,
}

/// The list beside a pane in `main_width` columns: names get the width
/// they need up to 40% of the screen; rows are full while the pane keeps
/// `MIN_PANE` columns and half the screen, else compact.
pub fn list_layout(app: &App, main_width: u16) -> ListLayout {
    let longest = app
        .images
        .iter()
        .enumerate()
        .map(|(i, img)| img.name.width() + if pending_edits(app, i) { 2 } else { 0 })
        .max()
        .unwrap_or(4) as u16;
    let name = longest.min(main_width * 2 / 5).max(4);
    // Borders, symbol and a space before and after the name.
    let fixed = 2 + 2 + name + 1;
    // The pane keeps at least MIN_PANE columns and half the screen.
    let detail = main_width
        .saturating_sub(fixed + MIN_PANE)
        .min((main_width / 2).saturating_sub(fixed))
        .min(detail_wanted(app, main_width));
    if detail >= MIN_DETAIL {
        ListLayout {
            width: fixed + detail,
            name,
            compact: false,
        }
    } else {
        // A running row keeps its step (`4/9`) beside the timer.
        ListLayout {
            width: (fixed + TIMER + SHORT_STEP).min(main_width.saturating_sub(20).max(fixed)),
            name,
            compact: true,
        }
    }
}

/// The room a full row's details want: `DETAIL`, or on a wide screen
/// (up to a third of it) what a running build's step needs beside its
/// timers, so that a long step is not cut while the pane has room.
fn detail_wanted(app: &App, main_width: u16) -> u16 {
    if main_width < WIDE {
        return DETAIL;
    }
    // A classic builder's step shows as `step 3/4`: only BuildKit's named
    // steps are long.
    let step = app
        .images
        .iter()
        .filter(|i| i.status.is_active())
        .filter(|i| {
            i.current_step
                .and_then(|s| i.steps.get(s))
                .is_some_and(|s| s.index.is_none())
        })
        .filter_map(|i| i.step_label())
        .map(|s| s.width() + STEP_TIMERS)
        .max()
        .unwrap_or(0);
    u16::try_from(step)
        .unwrap_or(u16::MAX)
        .min(main_width / 3)
        .max(DETAIL)
}

/// Whether image `i` has dashboard edits no successful build has used.
pub fn pending_edits(app: &App, i: usize) -> bool {
    app.images[i].pending_edits(app.overrides.get(i).and_then(Option::as_ref))
}

/// The dashboard's layout for a screen `area`.
pub fn areas(app: &App, area: Rect) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let (list, pane) = if app.view.zoom {
        (Rect::new(main.x, main.y, 0, 0), main)
    } else if main.width < NARROW {
        let rows = (app.images.len() as u16 + 2).min(main.height / 2).max(3);
        let [l, p] = Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(main);
        (l, p)
    } else {
        let width = list_layout(app, main.width).width;
        let [l, p] =
            Layout::horizontal([Constraint::Length(width), Constraint::Min(0)]).areas(main);
        (l, p)
    };
    Areas {
        list,
        pane,
        status,
        main,
    }
}

/// The first list row shown, so that row `selected` stays visible in
/// `rows`.
pub fn list_offset(selected: usize, rows: usize) -> usize {
    if rows == 0 {
        0
    } else {
        selected.saturating_sub(rows - 1)
    }
}

/// The images the list shows, in config order: all, or those the filter
/// (`/`) and the quick filter (`!`) let through.
pub fn visible_images(app: &App) -> Vec<usize> {
    let filter = app.view.filter.as_deref().filter(|f| !f.is_empty());
    (0..app.images.len())
        .filter(|&i| {
            let img = &app.images[i];
            filter.is_none_or(|f| find_all(&img.name, f).next().is_some())
                && (!app.view.problems_only || is_problem(img))
        })
        .collect()
}

/// Failed, stalled or timed out: in this session, or (not built in it)
/// in the latest run history knows of. What `!` shows.
pub fn is_problem(img: &ImageState) -> bool {
    match img.status {
        Status::Failed(_) | Status::Stalled(_) | Status::TimedOut => true,
        Status::Idle => img
            .last_run
            .as_ref()
            .is_some_and(|r| matches!(r.result, RunResult::Failed | RunResult::TimedOut)),
        _ => false,
    }
}

/// The selected image's row among the visible ones, if it is visible.
pub fn selected_row(app: &App, visible: &[usize]) -> Option<usize> {
    visible.iter().position(|&i| i == app.view.selected)
}

/// Which lines of a log a pane shows: `start..end`, the first one's first
/// `skip` rows hidden when it wraps past the top; `marker`: a row above
/// them says older lines were dropped from memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogWindow {
    pub start: usize,
    pub skip: usize,
    pub end: usize,
    pub marker: bool,
}

/// The rows a log line takes in `width` columns: one, or as many as it
/// needs when lines wrap.
pub fn line_rows(text: &str, width: usize, wrap: bool) -> usize {
    if !wrap || width == 0 {
        1
    } else {
        text.width().div_ceil(width).max(1)
    }
}

/// The lines of `log` a pane of `height` rows and `width` columns shows:
/// up from the line at the bottom of the view (the ring's scroll
/// position). Scrolled into the first page, the page shows from the top,
/// like a pager, rather than a few lines at the top of an empty pane.
pub fn log_window(log: &LogRing, height: usize, width: usize, wrap: bool) -> LogWindow {
    if log.is_empty() || height == 0 {
        return LogWindow::default();
    }
    let rows = |n: usize| log.get(n).map_or(1, |l| line_rows(&l.text, width, wrap));
    let bottom = log.bottom_index();
    let (mut start, mut used) = (bottom + 1, 0);
    while start > 0 && used < height {
        start -= 1;
        used += rows(start);
    }
    if used >= height {
        return LogWindow {
            start,
            skip: used - height,
            end: bottom + 1,
            marker: false,
        };
    }
    // The first page: from the top, below the dropped-lines marker.
    let marker = log.dropped() > 0;
    let room = height - usize::from(marker);
    let (mut end, mut used) = (0, 0);
    while end < log.len() && (end == 0 || used + rows(end) <= room) {
        used += rows(end);
        end += 1;
    }
    LogWindow {
        start: 0,
        skip: 0,
        end,
        marker,
    }
}

/// The log pane's inner size (rows, columns) as drawn now: what paging
/// and copying count with.
pub fn pane_text_size(app: &App) -> (usize, usize) {
    let areas = areas(app, Rect::new(0, 0, app.view.width, app.view.height));
    (
        areas.pane.height.saturating_sub(2) as usize,
        areas.pane.width.saturating_sub(2) as usize,
    )
}

/// The images tiled mode shows: those in the current run that are active,
/// else everything that took part in a run, in config order.
pub fn tiled_images(app: &App) -> Vec<usize> {
    let active: Vec<usize> = (0..app.images.len())
        .filter(|&i| app.images[i].status.is_active())
        .collect();
    if !active.is_empty() {
        return active;
    }
    (0..app.images.len())
        .filter(|&i| app.images[i].status != super::status::Status::Idle)
        .collect()
}

/// A grid of `n` tiles over `area`: columns ≈ √n, rows filled left to right.
pub fn tiles(area: Rect, n: usize) -> Vec<Rect> {
    if n == 0 {
        return Vec::new();
    }
    let cols = (n as f64).sqrt().ceil() as usize;
    let rows = n.div_ceil(cols);
    let row_areas = Layout::vertical(vec![Constraint::Fill(1); rows]).split(area);
    let mut out = Vec::with_capacity(n);
    for (r, row) in row_areas.iter().enumerate() {
        let in_row = (n - r * cols).min(cols);
        let cells = Layout::horizontal(vec![Constraint::Fill(1); in_row]).split(*row);
        out.extend(cells.iter().copied());
    }
    out
}

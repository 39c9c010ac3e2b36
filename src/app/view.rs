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

use super::edit::ImageOverride;
use super::App;
use crate::config::Config;

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
        while let Some(pos) = hay[from..].find(&needle) {
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

/// The dashboard's layout for a screen `area`.
pub fn areas(app: &App, area: Rect) -> Areas {
    let [main, status] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let name_width = app.images.iter().map(|i| i.name.len()).max().unwrap_or(4) as u16;
    let (list, pane) = if main.width < NARROW {
        let rows = (app.images.len() as u16 + 2).min(main.height / 2).max(3);
        let [l, p] = Layout::vertical([Constraint::Length(rows), Constraint::Min(0)]).areas(main);
        (l, p)
    } else {
        let want = name_width + 30;
        let width = want.clamp(28, main.width / 2);
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

/// The first list row shown, so that `selected` stays visible in `rows`.
pub fn list_offset(selected: usize, rows: usize) -> usize {
    if rows == 0 {
        0
    } else {
        selected.saturating_sub(rows - 1)
    }
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

//! Every key the dashboard reads, mode by mode: which keys (and which
//! modifiers they may carry), the `Action` they trigger, their help text,
//! and whether they show as a hint. The key handlers look keys up here
//! (`lookup`); the `?` overlay (ui/help.rs), the status-bar hints
//! (ui/status_bar.rs) and the edit prompt's hints (ui/prompt.rs) are drawn
//! from here, so keys, help and hints cannot drift apart.
//!
//! A new key: its `Action` (in `actions!` below), a row — or a binding in a
//! row — of its mode's table, and its arm in `keys::apply`.

use crossterm::event::KeyCode::{
    BackTab, Delete, Down, End, Enter, Esc, Home, Left, PageDown, PageUp, Right, Tab, Up,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Declares `Action` and, for the tests, `Action::ALL`: a new action
/// cannot escape the check that every action has a key.
macro_rules! actions {
    ($($(#[doc = $doc:literal])+ $name:ident,)+) => {
        /// What a key does; `keys::apply` carries each one out.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Action {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Action {
            /// Every action, in declaration order.
            #[cfg(test)]
            pub(crate) const ALL: &'static [Action] = &[$(Action::$name,)+];
        }
    };
}

actions! {
    /// Cancel everything (as SIGINT does headless), then leave.
    Interrupt,
    /// Select the image above (list focused) or scroll the log up (pane).
    Up,
    /// Select the image below (list focused) or scroll the log down (pane).
    Down,
    /// Focus the list or the log pane, whichever is not focused.
    SwitchFocus,
    /// Scroll the log a page up.
    PageUp,
    /// Scroll the log a page down.
    PageDown,
    /// Select the first image (list focused) or show the log's first
    /// page (pane).
    Top,
    /// Select the last image (list focused) or show the log's tail and
    /// follow it (pane).
    Bottom,
    /// Show the log's first error line, with the lines after it.
    FirstError,
    /// Stop following the log's tail, or follow it again.
    ToggleFollow,
    /// Wrap long log lines, or cut them at the pane's edge.
    ToggleWrap,
    /// Scroll cut lines sideways, towards their start.
    ScrollLeft,
    /// Scroll cut lines sideways, towards their end.
    ScrollRight,
    /// Start typing a filter for the list (list focused) or a search
    /// query for the log (pane focused).
    StartSearch,
    /// Go to the next match of the last search (down, newer).
    NextMatch,
    /// Rebuild the selected image without the cache (list focused), or
    /// go to the previous match of the last search (pane).
    NoCacheOrPrevMatch,
    /// Show only failed, stalled and timed-out images, or all again.
    ToggleProblems,
    /// Build the selected image if it changed, with its dependencies.
    Build,
    /// Rebuild the selected image without change detection.
    ForceBuild,
    /// Build every image that changed.
    BuildAll,
    /// Cancel the selected image's build or push.
    Cancel,
    /// Push the selected image's fresh build.
    Push,
    /// Open the edit prompt over the selected image's args, tags, target.
    Edit,
    /// Show the selected image's saved log, every line, in `$PAGER`.
    OpenPager,
    /// Copy the visible log lines (or the current match's line).
    Copy,
    /// A pane per active build, or back to list and log.
    ToggleTiled,
    /// The log pane on the whole screen, or back beside the list.
    ToggleZoom,
    /// Capture the mouse, or leave it to the terminal (text selection).
    ToggleMouse,
    /// Watch every image's files and rebuild what changes, or stop.
    ToggleWatch,
    /// One more build at once.
    MoreJobs,
    /// One build fewer at once (running ones finish).
    FewerJobs,
    /// Open the `?` overlay.
    ShowHelp,
    /// Close the search, else leave tiled mode, else focus the list.
    Back,
    /// Quit, or ask first while builds run.
    Quit,
    /// Close the `?` overlay.
    CloseHelp,
    /// `?` overlay: scroll it up.
    HelpUp,
    /// `?` overlay: scroll it down.
    HelpDown,
    /// Search mode: find the query's matches and go to the nearest.
    FindMatches,
    /// Search mode: drop the search.
    CloseSearch,
    /// Filter mode: keep the filter, back to the list.
    KeepFilter,
    /// Filter mode: drop the filter.
    ClearFilter,
    /// Edit prompt: apply the edits (a bad line is refused).
    ApplyEdits,
    /// Edit prompt: a new line in the text area.
    NewLine,
    /// Edit prompt: empty the cursor's line.
    ClearLine,
    /// Edit prompt: delete the word before the cursor (not a line break).
    DeleteWord,
    /// Edit prompt: delete the character under the cursor (not a line
    /// break).
    DeleteNext,
    /// Edit prompt: close it, changing nothing.
    CancelEdits,
    /// Quit question: yes, cancel the builds and quit.
    QuitConfirmed,
    /// Quit question: no, keep building.
    QuitDeclined,
}

/// Which modifiers a key may carry and still match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mods {
    /// Any: terminals differ in whether they report Shift with `B`, `?`
    /// or `+`.
    Any,
    /// Ctrl must be held.
    Ctrl,
    /// Alt or Shift must be held.
    AltOrShift,
}

/// One key of a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: Mods,
}

impl Key {
    pub fn matches(&self, event: &KeyEvent) -> bool {
        event.code == self.code
            && match self.mods {
                Mods::Any => true,
                Mods::Ctrl => event.modifiers.contains(KeyModifiers::CONTROL),
                Mods::AltOrShift => event
                    .modifiers
                    .intersects(KeyModifiers::ALT | KeyModifiers::SHIFT),
            }
    }
}

/// Keys that trigger one action.
#[derive(Debug, Clone, Copy)]
pub struct Binding {
    pub keys: &'static [Key],
    pub action: Action,
}

/// What a row documents: bindings, or the mouse (handled by
/// `keys::on_mouse`, from where things were drawn).
#[derive(Debug, Clone, Copy)]
pub enum Input {
    Keys(&'static [Binding]),
    Mouse,
}

/// How a row shows in a mode's hint line: `KEYS LABEL` (its first key
/// only, where the row has several), in `rank` order; where not all fit,
/// the first ones.
#[derive(Debug, Clone, Copy)]
pub struct Hint {
    pub rank: u8,
    pub label: &'static str,
}

/// One line of help: the keys as shown, what they do, and their bindings.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub keys: &'static str,
    pub help: &'static str,
    pub input: Input,
    pub hint: Option<Hint>,
}

impl Row {
    const fn hint(self, rank: u8, label: &'static str) -> Row {
        Row {
            hint: Some(Hint { rank, label }),
            ..self
        }
    }

    /// The row's bindings (none for the mouse).
    pub fn bindings(&self) -> &'static [Binding] {
        match self.input {
            Input::Keys(bindings) => bindings,
            Input::Mouse => &[],
        }
    }
}

const fn row(keys: &'static str, help: &'static str, bindings: &'static [Binding]) -> Row {
    Row {
        keys,
        help,
        input: Input::Keys(bindings),
        hint: None,
    }
}

const fn on(keys: &'static [Key], action: Action) -> Binding {
    Binding { keys, action }
}

/// `code`, whatever the modifiers.
const fn key(code: KeyCode) -> Key {
    Key {
        code,
        mods: Mods::Any,
    }
}

/// The character `c`, whatever the modifiers.
const fn ch(c: char) -> Key {
    key(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        mods: Mods::Ctrl,
    }
}

const fn alt_or_shift(code: KeyCode) -> Key {
    Key {
        code,
        mods: Mods::AltOrShift,
    }
}

const INTERRUPT: Row = row(
    "Ctrl-C",
    "cancel everything and quit",
    &[on(&[ctrl('c')], Action::Interrupt)],
);

/// Keys that act the same in every mode, looked up before the mode's own.
pub const GLOBAL: &[Row] = &[INTERRUPT];

/// Normal mode. Also the `?` overlay, row by row, and README's key table.
pub const NORMAL: &[Row] = &[
    row(
        "↑/↓ j/k",
        "select image (list) / scroll (pane)",
        &[
            on(&[key(Up), ch('k')], Action::Up),
            on(&[key(Down), ch('j')], Action::Down),
        ],
    ),
    row(
        "←/→ h/l",
        "scroll long lines sideways (not wrapping)",
        &[
            on(&[key(Left), ch('h')], Action::ScrollLeft),
            on(&[key(Right), ch('l')], Action::ScrollRight),
        ],
    ),
    row(
        "Enter Tab",
        "focus list ⇄ log pane",
        &[on(
            &[key(Enter), key(Tab), key(BackTab)],
            Action::SwitchFocus,
        )],
    ),
    row(
        "PgUp PgDn",
        "scroll the log a page",
        &[
            on(&[key(PageUp)], Action::PageUp),
            on(&[key(PageDown)], Action::PageDown),
        ],
    ),
    row(
        "g / G",
        "first / last image (list) / log ends (pane)",
        &[
            on(&[key(Home), ch('g')], Action::Top),
            on(&[key(End), ch('G')], Action::Bottom),
        ],
    ),
    row(
        "E",
        "the log's first error line",
        &[on(&[ch('E')], Action::FirstError)],
    ),
    row(
        "f",
        "follow the log tail on/off",
        &[on(&[ch('f')], Action::ToggleFollow)],
    ),
    row(
        "w",
        "wrap long lines on/off",
        &[on(&[ch('w')], Action::ToggleWrap)],
    ),
    row(
        "/  n N",
        "filter list / search log (pane), n N matches",
        &[
            on(&[ch('/')], Action::StartSearch),
            on(&[ch('n')], Action::NextMatch),
            on(&[ch('N')], Action::NoCacheOrPrevMatch),
        ],
    )
    .hint(1, "filter"),
    row(
        "!",
        "only failed, stalled and timed-out images",
        &[on(&[ch('!')], Action::ToggleProblems)],
    ),
    row(
        "b",
        "build selected if changed (and its deps)",
        &[on(&[ch('b')], Action::Build)],
    )
    .hint(2, "build"),
    row(
        "F",
        "force-rebuild selected (no change check)",
        &[on(&[ch('F')], Action::ForceBuild)],
    ),
    row(
        "N",
        "rebuild selected without the cache (list)",
        &[on(&[ch('N')], Action::NoCacheOrPrevMatch)],
    ),
    row(
        "B",
        "build all that changed",
        &[on(&[ch('B')], Action::BuildAll)],
    ),
    row("c", "cancel selected", &[on(&[ch('c')], Action::Cancel)]).hint(3, "cancel"),
    row("p", "push selected", &[on(&[ch('p')], Action::Push)]),
    row(
        "e",
        "edit args/tags/target for the next build",
        &[on(&[ch('e')], Action::Edit)],
    ),
    row(
        "o",
        "the full saved log in $PAGER",
        &[on(&[ch('o')], Action::OpenPager)],
    )
    .hint(4, "pager"),
    row(
        "y",
        "copy visible lines (or the match)",
        &[on(&[ch('y')], Action::Copy)],
    ),
    row(
        "t",
        "tiled: a pane per active build",
        &[on(&[ch('t')], Action::ToggleTiled)],
    )
    .hint(5, "tiled"),
    row(
        "z",
        "zoom the log pane to full width",
        &[on(&[ch('z')], Action::ToggleZoom)],
    ),
    row(
        "m",
        "mouse capture on/off (terminal selection)",
        &[on(&[ch('m')], Action::ToggleMouse)],
    ),
    row(
        "W",
        "watch files, rebuild what changes (on/off)",
        &[on(&[ch('W')], Action::ToggleWatch)],
    ),
    row(
        "+ / -",
        "more / fewer builds at once",
        &[
            on(&[ch('+'), ch('=')], Action::MoreJobs),
            on(&[ch('-')], Action::FewerJobs),
        ],
    ),
    row("?", "this help", &[on(&[ch('?')], Action::ShowHelp)]).hint(0, "help"),
    row(
        "Esc",
        "close search / filter / zoom / tiled",
        &[on(&[key(Esc)], Action::Back)],
    ),
    row(
        "q",
        "quit (asks while builds run)",
        &[on(&[ch('q')], Action::Quit)],
    )
    .hint(6, "quit"),
    INTERRUPT,
    Row {
        keys: "mouse",
        help: "wheel scrolls, click selects",
        input: Input::Mouse,
        hint: None,
    },
];

/// The `?` overlay. Any other key closes it too, and does nothing else.
pub const HELP: &[Row] = &[
    row(
        "↑/↓ j/k",
        "scroll this help",
        &[
            on(&[key(Up), ch('k')], Action::HelpUp),
            on(&[key(Down), ch('j')], Action::HelpDown),
        ],
    ),
    row(
        "? Esc",
        "close this help",
        &[on(&[ch('?'), key(Esc)], Action::CloseHelp)],
    ),
];

/// Typing a search query. Other keys edit the query; Backspace on an empty
/// query closes the search.
pub const SEARCH: &[Row] = &[
    row(
        "Enter",
        "go to the nearest match",
        &[on(&[key(Enter)], Action::FindMatches)],
    ),
    row(
        "Esc",
        "close the search",
        &[on(&[key(Esc)], Action::CloseSearch)],
    ),
];

/// Typing the list's filter: the list follows each key. Other keys edit
/// it; Backspace on an empty filter drops it.
pub const FILTER: &[Row] = &[
    row(
        "↑/↓",
        "select among the images shown",
        &[on(&[key(Up)], Action::Up), on(&[key(Down)], Action::Down)],
    ),
    row(
        "Enter",
        "keep the filter",
        &[on(&[key(Enter)], Action::KeepFilter)],
    ),
    row(
        "Esc",
        "clear the filter",
        &[on(&[key(Esc)], Action::ClearFilter)],
    ),
];

/// The edit prompt. Other keys go to its text area. Alt-Enter comes
/// before Enter: the first matching binding wins.
pub const PROMPT: &[Row] = &[
    row(
        "Alt-Enter",
        "add a line",
        &[on(&[alt_or_shift(Enter)], Action::NewLine)],
    )
    .hint(1, "new line"),
    row(
        "Enter",
        "apply the edits",
        &[on(&[key(Enter)], Action::ApplyEdits)],
    )
    .hint(0, "apply"),
    row(
        "Esc",
        "close, changing nothing",
        &[on(&[key(Esc)], Action::CancelEdits)],
    )
    .hint(2, "cancel"),
    row(
        "Ctrl-U",
        "clear the line",
        &[on(&[ctrl('u')], Action::ClearLine)],
    )
    .hint(3, "clear line"),
    row(
        "Ctrl-W",
        "delete the word before the cursor",
        &[on(&[ctrl('w')], Action::DeleteWord)],
    )
    .hint(4, "delete word"),
    row(
        "Delete",
        "delete the next character (never a line break)",
        &[on(&[key(Delete)], Action::DeleteNext)],
    ),
];

/// `q` while builds run: "Cancel them and quit? (y/n)". Other keys do
/// nothing.
pub const CONFIRM_QUIT: &[Row] = &[
    row(
        "y",
        "cancel the builds and quit",
        &[on(&[ch('y'), ch('Y')], Action::QuitConfirmed)],
    ),
    row(
        "n Esc q",
        "keep building",
        &[on(
            &[ch('n'), ch('N'), key(Esc), ch('q')],
            Action::QuitDeclined,
        )],
    ),
];

/// The action `event` triggers in a mode with these `rows`: `GLOBAL`
/// first, then the rows in order; the first matching binding wins.
pub fn lookup(rows: &[Row], event: &KeyEvent) -> Option<Action> {
    GLOBAL
        .iter()
        .chain(rows)
        .flat_map(Row::bindings)
        .find(|b| b.keys.iter().any(|k| k.matches(event)))
        .map(|b| b.action)
}

/// The hints of `rows`, in rank order: (key, label).
pub fn hints(rows: &[Row]) -> Vec<(&'static str, &'static str)> {
    let first_key = |keys: &'static str| keys.split_whitespace().next().unwrap_or(keys);
    let mut hinted: Vec<(u8, &'static str, &'static str)> = rows
        .iter()
        .filter_map(|r| r.hint.map(|h| (h.rank, first_key(r.keys), h.label)))
        .collect();
    hinted.sort_by_key(|&(rank, _, _)| rank);
    hinted
        .into_iter()
        .map(|(_, keys, label)| (keys, label))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES: &[(&str, &[Row])] = &[
        ("GLOBAL", GLOBAL),
        ("NORMAL", NORMAL),
        ("HELP", HELP),
        ("SEARCH", SEARCH),
        ("FILTER", FILTER),
        ("PROMPT", PROMPT),
        ("CONFIRM_QUIT", CONFIRM_QUIT),
    ];

    /// A key press that `key` is meant to match.
    fn press(key: &Key) -> KeyEvent {
        let modifiers = match key.mods {
            Mods::Any => KeyModifiers::NONE,
            Mods::Ctrl => KeyModifiers::CONTROL,
            Mods::AltOrShift => KeyModifiers::ALT,
        };
        KeyEvent::new(key.code, modifiers)
    }

    #[test]
    fn every_action_has_a_key() {
        for action in Action::ALL {
            let bound = TABLES
                .iter()
                .flat_map(|(_, rows)| rows.iter())
                .flat_map(Row::bindings)
                .any(|b| b.action == *action);
            assert!(bound, "{action:?} is in no table");
        }
    }

    /// Every key of every row reaches its own action in its mode: no
    /// binding is shadowed by a global one or an earlier row (`c` and
    /// Ctrl-C, Enter and Alt-Enter).
    #[test]
    fn every_key_shown_reaches_its_action() {
        for (name, rows) in TABLES {
            for row in *rows {
                for binding in row.bindings() {
                    for key in binding.keys {
                        assert_eq!(
                            lookup(rows, &press(key)),
                            Some(binding.action),
                            "{name} row {:?}: {key:?}",
                            row.keys
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_row_has_a_binding_or_is_the_mouse() {
        for (name, rows) in TABLES {
            for row in *rows {
                match row.input {
                    Input::Keys(bindings) => assert!(
                        bindings.iter().all(|b| !b.keys.is_empty()) && !bindings.is_empty(),
                        "{name} row {:?} has no key",
                        row.keys
                    ),
                    Input::Mouse => assert_eq!(*name, "NORMAL", "the mouse works in normal mode"),
                }
            }
        }
    }

    #[test]
    fn hints_are_ranked_without_ties() {
        for (name, rows) in TABLES {
            let mut ranks: Vec<u8> = rows.iter().filter_map(|r| r.hint.map(|h| h.rank)).collect();
            let n = ranks.len();
            ranks.sort();
            ranks.dedup();
            assert_eq!(ranks.len(), n, "{name}: two hints share a rank");
        }
        assert_eq!(
            hints(NORMAL),
            [
                ("?", "help"),
                ("/", "filter"),
                ("b", "build"),
                ("c", "cancel"),
                ("o", "pager"),
                ("t", "tiled"),
                ("q", "quit")
            ]
        );
    }

    /// README's key table is normal mode's rows, in order, word for word.
    #[test]
    fn the_readme_key_table_is_this_table() {
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        let start = readme
            .find("| key | what it does |")
            .expect("the key table");
        let rows: Vec<&str> = readme
            .get(start..)
            .unwrap_or_default()
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        let ours: Vec<String> = NORMAL
            .iter()
            .map(|r| format!("| `{}` | {} |", r.keys, r.help))
            .collect();
        assert_eq!(rows, ours);
    }

    /// Ctrl-C works in every mode; Enter means what its mode says.
    #[test]
    fn global_keys_come_first_in_every_mode() {
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let enter = KeyEvent::new(Enter, KeyModifiers::NONE);
        for (name, rows) in TABLES {
            assert_eq!(lookup(rows, &ctrl_c), Some(Action::Interrupt), "{name}");
        }
        assert_eq!(lookup(NORMAL, &enter), Some(Action::SwitchFocus));
        assert_eq!(lookup(SEARCH, &enter), Some(Action::FindMatches));
        assert_eq!(lookup(FILTER, &enter), Some(Action::KeepFilter));
        assert_eq!(lookup(PROMPT, &enter), Some(Action::ApplyEdits));
        assert_eq!(lookup(CONFIRM_QUIT, &enter), None);
    }
}

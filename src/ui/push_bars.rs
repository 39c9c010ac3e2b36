//! Per-layer push progress bars at the bottom of the log pane while an
//! image is pushing (DESIGN.md, Dashboard).
//!
//! Reserved: the model has no push state yet (the engine's push is being
//! built separately), so there is nothing to draw and `height` is 0. When
//! the model grows per-layer progress (`PushProgress` events: layer,
//! current, total, status, last progress time), render one `Gauge` line per
//! layer here (current clamped to total, a stalled layer in yellow), and
//! have `log_pane` give this module `height(...)` rows at its bottom.

use ratatui::layout::Rect;
use ratatui::Frame;

use super::Theme;
use crate::app::App;

/// Rows the push bars of image `i` need (0: nothing to show yet).
pub fn height(_app: &App, _i: usize) -> u16 {
    0
}

/// Draw image `i`'s push bars into `area` (nothing yet: see module docs).
pub fn draw(_app: &App, _theme: &Theme, _frame: &mut Frame, _area: Rect, _i: usize) {}

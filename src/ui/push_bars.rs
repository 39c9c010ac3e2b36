//! Per-layer push progress bars at the bottom of the log pane while an
//! image pushes (README, Dashboard): one bar per layer (id, bytes
//! done/total, status, speed, retries), a stalled layer marked, and an
//! overall bar for the tag. Reads `ImageState::push`; draws nothing else.
//! With several engines, the same overall bar for an image moving to the
//! engine a build runs on (`ImageState::transfer`).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{LineGauge, Paragraph};
use ratatui::Frame;

use super::Theme;
use crate::app::image::{ImageState, Transfer};
use crate::app::push::Layer;
use crate::app::status::Status;
use crate::app::App;
use crate::human::{format_duration, human_bytes};

/// Most layer rows shown; unfinished layers first.
const MAX_LAYERS: usize = 8;

fn pushing(img: &ImageState) -> bool {
    img.status.is_pushing() && !img.push.layers.is_empty()
}

/// Rows the push bars of image `i` need (0 when it is not pushing); one
/// for an image moving between engines for its build.
pub fn height(app: &App, i: usize) -> u16 {
    match app.images.get(i) {
        Some(img) if pushing(img) => (img.push.layers.len().min(MAX_LAYERS) + 1) as u16,
        Some(img) if img.transfer.is_some() => 1,
        _ => 0,
    }
}

/// An image moving between engines (several engines), as a push's
/// overall bar: `base e1 → e2 1.2 MB / 2.1 MB`.
fn draw_transfer(theme: &Theme, frame: &mut Frame, area: Rect, t: &Transfer) {
    let ratio = match t.total {
        0 => 0.0,
        total => (t.bytes as f64 / total as f64).min(1.0),
    };
    let label = format!(
        "moving {} {} → {}{} {} / {}",
        t.of,
        t.from,
        t.to,
        if t.registry { " via registry" } else { "" },
        human_bytes(t.bytes),
        human_bytes(t.total)
    );
    frame.render_widget(
        LineGauge::default()
            .ratio(ratio)
            .label(Span::styled(
                label,
                Style::default().add_modifier(Modifier::BOLD),
            ))
            .filled_style(theme.fg(Color::Blue))
            .unfilled_style(theme.fg(Color::DarkGray)),
        area,
    );
}

/// The layers worth a row: unfinished ones first, then finished, in order.
fn shown(img: &ImageState) -> Vec<&Layer> {
    let (mut open, done): (Vec<&Layer>, Vec<&Layer>) =
        img.push.layers.iter().partition(|l| !l.is_done());
    open.extend(done);
    open.truncate(MAX_LAYERS);
    open
}

/// Draw image `i`'s push bars into `area`.
pub fn draw(app: &App, theme: &Theme, frame: &mut Frame, area: Rect, i: usize) {
    let Some(img) = app.images.get(i) else {
        return;
    };
    if area.height == 0 {
        return;
    }
    if let (false, Some(t)) = (pushing(img), &img.transfer) {
        draw_transfer(theme, frame, area, t);
        return;
    }
    if !pushing(img) {
        return;
    }
    let layers = shown(img);
    let rows = Layout::vertical(vec![Constraint::Length(1); layers.len() + 1]).split(area);
    let (done, total) = img.push.bytes();
    let tag = img.push.tag.clone().unwrap_or_default();
    let overall = if total > 0 {
        (done as f64 / total as f64).min(1.0)
    } else {
        0.0
    };
    let label = format!(
        "{tag} {} / {} ({} of {} layers)",
        human_bytes(done),
        human_bytes(total),
        img.push.layers.iter().filter(|l| l.is_done()).count(),
        img.push.layers.len()
    );
    frame.render_widget(
        LineGauge::default()
            .ratio(overall)
            .label(Span::styled(
                label,
                Style::default().add_modifier(Modifier::BOLD),
            ))
            .filled_style(theme.fg(Color::Blue))
            .unfilled_style(theme.fg(Color::DarkGray)),
        rows[0],
    );
    for (layer, row) in layers.iter().zip(rows.iter().skip(1)) {
        draw_layer(app, img, theme, frame, *row, layer);
    }
}

fn draw_layer(
    app: &App,
    img: &ImageState,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    l: &Layer,
) {
    let silent = app
        .now
        .map(|now| now.saturating_duration_since(l.last_progress))
        .unwrap_or_default();
    let stalled = l.is_in_flight()
        && img.status == Status::Stalled(crate::protocol::Phase::Push)
        && silent >= img.stall_after;
    let mut status = match l.total {
        Some(t) if !l.is_done() => {
            format!("{} {}/{}", l.status, human_bytes(l.current), human_bytes(t))
        }
        _ => l.status.clone(),
    };
    if let Some(rate) = l.bytes_per_sec.filter(|_| !l.is_done()) {
        status.push_str(&format!(" {}/s", human_bytes(rate as u64)));
    }
    if l.retries > 0 {
        status.push_str(&format!(" ({} retries)", l.retries));
    }
    let style = if stalled {
        status.push_str(&format!(" STALLED {}", format_duration(silent)));
        theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    } else if l.is_done() {
        theme.fg(Color::Green)
    } else {
        Style::default()
    };
    let id: String = l.id.chars().take(12).collect();
    match l.fraction() {
        Some(ratio) if !l.is_done() => frame.render_widget(
            LineGauge::default()
                .ratio(ratio)
                .label(Span::styled(format!("{id} {status}"), style))
                .filled_style(if stalled {
                    style
                } else {
                    theme.fg(Color::Blue)
                })
                .unfilled_style(theme.fg(Color::DarkGray)),
            area,
        ),
        _ => frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::raw(format!("{id} ")),
                Span::styled(status, style),
            ])),
            area,
        ),
    }
}

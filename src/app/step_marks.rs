//! Which step a line of build output belongs to, for views that read as
//! text: the dashboard's log pane, the saved log and `--plain`. A step's
//! lines follow its header, but BuildKit runs independent stages at the
//! same time and their output interleaves; a line of another step than the
//! one the reader is following is then marked with its own step,
//! `[builder 3/9] | gcc …`, and the lines after it follow that step until
//! the step changes again. (The JSON `log` event carries the step as data
//! and needs no mark.) One rule, used by all three views.

use std::borrow::Cow;

/// What separates a step mark from the line.
const SEPARATOR: &str = " | ";

/// Tracks, for one image's run, the step the reader is following.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepMarks {
    /// The step of the last header or mark written.
    following: Option<String>,
}

impl StepMarks {
    /// A step's header was written: the lines after it are its own.
    pub fn header(&mut self, step: &str) {
        self.following = Some(step.to_string());
    }

    /// The text to write for `line` of `step`: the line itself, or marked
    /// with its step when that is not the step the reader is following.
    /// Lines of no known step are never marked.
    pub fn line<'a>(&mut self, step: Option<&str>, line: &'a str) -> Cow<'a, str> {
        let Some(step) = step else {
            return Cow::Borrowed(line);
        };
        if self.following.as_deref() == Some(step) {
            return Cow::Borrowed(line);
        }
        self.following = Some(step.to_string());
        Cow::Owned(format!("{}{SEPARATOR}{line}", step_label(step)))
    }

    /// Start over (a new run).
    pub fn clear(&mut self) {
        self.following = None;
    }
}

/// How a step is named in a mark: BuildKit's `[stage i/N]` prefix when the
/// name has one, else the whole name.
pub fn step_label(name: &str) -> &str {
    if name.starts_with('[') {
        if let Some(label) = name.find(']').and_then(|end| name.get(..=end)) {
            return label;
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUILDER: &str = "[builder 3/9] RUN apt-get install gcc";
    const RUNTIME: &str = "[stage-1 8/17] RUN apt-get install netcat-traditional";

    #[test]
    fn a_line_of_another_step_is_marked_once_per_change() {
        let mut m = StepMarks::default();
        m.header(BUILDER);
        assert_eq!(m.line(Some(BUILDER), "b1"), "b1");
        m.header(RUNTIME);
        assert_eq!(m.line(Some(RUNTIME), "r1"), "r1");
        assert_eq!(m.line(Some(BUILDER), "b2"), "[builder 3/9] | b2");
        assert_eq!(m.line(Some(BUILDER), "b3"), "b3");
        assert_eq!(m.line(Some(RUNTIME), "r2"), "[stage-1 8/17] | r2");
        assert_eq!(m.line(None, "kiln's own"), "kiln's own");
        assert_eq!(m.line(Some(RUNTIME), "r3"), "r3");
    }

    #[test]
    fn sequential_steps_are_never_marked() {
        let mut m = StepMarks::default();
        for (step, line) in [("RUN make", "cc"), ("RUN test", "ok")] {
            m.header(step);
            assert_eq!(m.line(Some(step), line), line);
        }
        // A line before any header is marked: nothing says whose it is.
        m.clear();
        assert_eq!(m.line(Some("RUN make"), "cc"), "RUN make | cc");
    }

    #[test]
    fn labels() {
        assert_eq!(step_label(BUILDER), "[builder 3/9]");
        assert_eq!(step_label("[ 1/10] FROM x"), "[ 1/10]");
        assert_eq!(step_label("exporting to image"), "exporting to image");
        assert_eq!(step_label("[unclosed"), "[unclosed");
    }
}

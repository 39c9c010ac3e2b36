//! Where an image builds when the stack has several engines: a pure rule,
//! tried in this order (README "Several engines"):
//!
//! 1. pinned (`engine: NAME`): there, and nowhere else (it waits for a
//!    free slot there; an engine out of the run fails it);
//! 2. where its last success was built, when that engine has a free slot
//!    (the image is there: change detection can skip it);
//! 3. where a parent already is, when that engine has a free slot
//!    (locality: nothing to move);
//! 4. the least loaded engine with a free slot (running / jobs; ties go to
//!    the earlier engine);
//! 5. else it waits.
//!
//! And where an image's push goes from (`push_from`).

use super::App;

/// One engine's load, as the rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    pub jobs: usize,
    pub running: usize,
    /// In the run (reachable, chosen).
    pub up: bool,
}

impl Load {
    fn free(&self) -> bool {
        self.up && self.running < self.jobs
    }
}

/// What the rule decides for one image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    On(usize),
    /// No engine that may take it has a free slot now.
    Wait,
    /// Pinned to an engine out of the run.
    Never,
}

/// The rule. `pin`: its pinned engine; `last`: where its last success was
/// built; `parents`: the engines its parents are on, in order;
/// `avoid`: an engine it must not go to (one that lost its last attempt),
/// unless pinned there.
pub fn place(
    pin: Option<usize>,
    last: Option<usize>,
    parents: &[usize],
    avoid: Option<usize>,
    loads: &[Load],
) -> Place {
    let free = |e: usize| loads.get(e).is_some_and(Load::free) && Some(e) != avoid;
    if let Some(p) = pin {
        return match loads.get(p) {
            Some(l) if !l.up => Place::Never,
            None => Place::Never,
            Some(l) if l.free() => Place::On(p),
            Some(_) => Place::Wait,
        };
    }
    if let Some(e) = last.filter(|&e| free(e)) {
        return Place::On(e);
    }
    if let Some(&e) = parents.iter().find(|&&e| free(e)) {
        return Place::On(e);
    }
    (0..loads.len())
        .filter(|&e| free(e))
        .min_by(|&a, &b| {
            // running_a / jobs_a < running_b / jobs_b, without division.
            let (la, lb) = (&loads[a], &loads[b]);
            (la.running * lb.jobs)
                .cmp(&(lb.running * la.jobs))
                .then(a.cmp(&b))
        })
        .map_or(Place::Wait, Place::On)
}

/// Several engines: the engine image `i`'s push goes from, the one that
/// holds exactly the image kiln built: where this session's build put it
/// (the first engine after collecting, else where it was built); without
/// one this session, the first engine with `collect: true`, else the
/// engine its last success was built on. None with one engine; an error
/// when that engine is out of the run or unknown.
pub fn push_from(app: &App, i: usize) -> Result<Option<usize>, String> {
    if app.engines.is_empty() {
        return Ok(None);
    }
    let img = &app.images[i];
    let up = |e: usize| app.engines.get(e).is_some_and(|x| x.down.is_none());
    let out_of_run = |e: usize| {
        let (name, why) = app.engines.get(e).map_or(("?", ""), |x| {
            (x.name.as_str(), x.down.as_deref().unwrap_or_default())
        });
        format!(
            "cannot push from engine '{name}', which holds its image: it is out of this run: {why}"
        )
    };
    if img.held_nowhere {
        return Err(
            "its image is on no engine of this run (the engines that held it rejoined \
             without it): build it again"
                .to_string(),
        );
    }
    if let Some(&last) = img.held_on.last() {
        // Collected first, then where it was built.
        return img
            .held_on
            .iter()
            .rev()
            .copied()
            .find(|&e| up(e))
            .map(Some)
            .ok_or_else(|| out_of_run(last));
    }
    let e = if app.collect {
        0
    } else {
        let Some(name) = img.last_success.as_ref().and_then(|l| l.engine.as_deref()) else {
            return Err(
                "no engine is known to hold its image (collect: false and no build of it \
                 recorded with its engine): build it first"
                    .to_string(),
            );
        };
        app.engines
            .iter()
            .position(|x| x.name == name)
            .ok_or_else(|| {
                format!("its last build was on engine '{name}', which the stack no longer has")
            })?
    };
    if up(e) {
        Ok(Some(e))
    } else {
        Err(out_of_run(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(jobs: usize, running: usize) -> Load {
        Load {
            jobs,
            running,
            up: true,
        }
    }

    #[test]
    fn least_loaded_first_then_earlier() {
        let loads = [load(2, 1), load(2, 0), load(2, 0)];
        assert_eq!(place(None, None, &[], None, &loads), Place::On(1));
        let loads = [load(2, 0), load(2, 0)];
        assert_eq!(place(None, None, &[], None, &loads), Place::On(0));
        // By ratio: 1 of 4 is less loaded than 1 of 2.
        let loads = [load(2, 1), load(4, 1)];
        assert_eq!(place(None, None, &[], None, &loads), Place::On(1));
    }

    #[test]
    fn parent_engine_when_free_else_least_loaded() {
        let loads = [load(2, 0), load(2, 1)];
        assert_eq!(place(None, None, &[1], None, &loads), Place::On(1));
        let loads = [load(2, 0), load(2, 2)];
        assert_eq!(place(None, None, &[1], None, &loads), Place::On(0));
    }

    #[test]
    fn last_success_wins_over_parent() {
        let loads = [load(2, 0), load(2, 0), load(2, 0)];
        assert_eq!(place(None, Some(2), &[1], None, &loads), Place::On(2));
    }

    #[test]
    fn pinned_waits_or_never() {
        let mut loads = [load(2, 0), load(1, 1)];
        assert_eq!(place(Some(1), None, &[0], None, &loads), Place::Wait);
        loads[1].up = false;
        assert_eq!(place(Some(1), None, &[], None, &loads), Place::Never);
        assert_eq!(place(Some(5), None, &[], None, &loads), Place::Never);
    }

    #[test]
    fn down_and_avoided_engines_take_nothing() {
        let mut loads = [load(2, 0), load(2, 0)];
        loads[0].up = false;
        assert_eq!(place(None, Some(0), &[0], None, &loads), Place::On(1));
        assert_eq!(place(None, None, &[], Some(1), &loads), Place::Wait);
        let full = [load(1, 1), load(1, 1)];
        assert_eq!(place(None, None, &[], None, &full), Place::Wait);
    }
}

//! The dependency graph between images: declared `depends_on` plus edges
//! inferred from Dockerfiles, cycle detection, build order, waves, and
//! selecting a subset of images with everything it needs.
//!
//! Everything here is total: a `Config` built by hand with cycles or
//! unknown names still gets a plan (cyclic images go last) rather than a
//! panic; [`super::load`] reports such problems before a plan is made.

use std::collections::{BTreeSet, VecDeque};

use super::dockerfile::{dockerfile_refs, ref_matches_tag};
use super::suggest::did_you_mean;
use super::{Config, ContextSource, ImageConfig, Source};

/// One dependency edge of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dep {
    /// Index into `Config::images` of the image depended on.
    pub on: usize,
    /// True when the edge comes only from the Dockerfile (`FROM`,
    /// `COPY --from`, `RUN --mount=from=`), not from `depends_on`.
    pub inferred: bool,
}

/// Build order for a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Topological order (dependencies first). Among images whose
    /// dependencies are satisfied, file order wins.
    pub order: Vec<usize>,
    /// Wave 0: images without dependencies; wave k: images whose
    /// dependencies are all in earlier waves. Each wave is in file order.
    pub waves: Vec<Vec<usize>>,
    /// Per image (same indexes as `Config::images`): its dependencies,
    /// declared ones first, each target once.
    pub deps: Vec<Vec<Dep>>,
}

/// Dependency edges per image; unknown names and self-edges are skipped.
pub(crate) fn edges(images: &[ImageConfig]) -> Vec<Vec<Dep>> {
    let index_of = |n: &str| images.iter().position(|i| i.name == n);
    images
        .iter()
        .enumerate()
        .map(|(me, img)| {
            let mut out: Vec<Dep> = Vec::new();
            let declared = img.depends_on.iter().map(|n| (n, false));
            let inferred = img.inferred_depends_on.iter().map(|n| (n, true));
            for (name, inferred) in declared.chain(inferred) {
                if let Some(on) = index_of(name) {
                    if on != me && !out.iter().any(|d| d.on == on) {
                        out.push(Dep { on, inferred });
                    }
                }
            }
            out
        })
        .collect()
}

pub(crate) fn plan(config: &Config) -> Plan {
    let deps = edges(&config.images);
    let n = deps.len();
    let mut remaining: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for d in ds {
            dependents[d.on].push(i);
        }
    }
    // Kahn's algorithm with the lowest index first keeps file order
    // wherever the dependencies allow it.
    let mut ready: BTreeSet<usize> = (0..n).filter(|&i| remaining[i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    let mut wave_of = vec![usize::MAX; n];
    while let Some(i) = ready.pop_first() {
        order.push(i);
        wave_of[i] = deps[i].iter().map(|d| wave_of[d.on] + 1).max().unwrap_or(0);
        for &j in &dependents[i] {
            remaining[j] -= 1;
            if remaining[j] == 0 {
                ready.insert(j);
            }
        }
    }
    let mut waves: Vec<Vec<usize>> = Vec::new();
    for &i in &order {
        let w = wave_of[i];
        if waves.len() <= w {
            waves.resize(w + 1, Vec::new());
        }
        waves[w].push(i);
    }
    for w in &mut waves {
        w.sort_unstable();
    }
    // Images on a cycle can never become ready; append them so every image
    // appears exactly once.
    let stuck: Vec<usize> = (0..n).filter(|&i| wave_of[i] == usize::MAX).collect();
    if !stuck.is_empty() {
        order.extend(&stuck);
        waves.push(stuck);
    }
    Plan { order, waves, deps }
}

/// See [`Config::select`]. The error names every unknown image, with a
/// suggestion; it is only shown, so it is a `String`.
pub(crate) fn select(config: &Config, names: &[String]) -> Result<Vec<usize>, String> {
    let plan = plan(config);
    if names.is_empty() {
        return Ok(plan.order);
    }
    let mut problems = Vec::new();
    let mut wanted = vec![false; config.images.len()];
    let mut queue = VecDeque::new();
    for name in names {
        match config.index_of(name) {
            Some(i) => queue.push_back(i),
            None => problems.push(format!(
                "unknown image '{name}'{}",
                did_you_mean(name, config.images.iter().map(|i| i.name.as_str()))
            )),
        }
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    while let Some(i) = queue.pop_front() {
        if std::mem::replace(&mut wanted[i], true) {
            continue;
        }
        queue.extend(plan.deps[i].iter().map(|d| d.on));
    }
    Ok(plan.order.into_iter().filter(|&i| wanted[i]).collect())
}

/// Elementary cycles to report, one per strongly connected component with
/// more than one image, as image indexes `[a, b, c]` meaning
/// `a -> b -> c -> a`. Each starts at the component's first image in file
/// order and follows the shortest path back, so the output is stable.
pub(crate) fn find_cycles(deps: &[Vec<Dep>]) -> Vec<Vec<usize>> {
    let n = deps.len();
    let comp = components(deps);
    let mut size = vec![0usize; n];
    for &c in &comp {
        if let Some(s) = size.get_mut(c) {
            *s += 1;
        }
    }
    let mut reported = vec![false; n];
    let mut cycles = Vec::new();
    for start in 0..n {
        let c = comp[start];
        if reported.get(c).is_none_or(|&r| r) || size.get(c).is_none_or(|&s| s < 2) {
            continue;
        }
        reported[c] = true;
        // BFS inside the component from `start` back to `start`.
        let mut prev = vec![usize::MAX; n];
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'bfs: while let Some(u) = queue.pop_front() {
            for d in &deps[u] {
                if comp[d.on] != c {
                    continue;
                }
                if d.on == start {
                    closing = Some(u);
                    break 'bfs;
                }
                if prev[d.on] == usize::MAX {
                    prev[d.on] = u;
                    queue.push_back(d.on);
                }
            }
        }
        let Some(mut u) = closing else { continue };
        let mut path = vec![u];
        while u != start {
            u = prev[u];
            if u == usize::MAX {
                break;
            }
            path.push(u);
        }
        path.reverse();
        cycles.push(path);
    }
    cycles
}

/// Strongly connected components (iterative Tarjan, so deep chains cannot
/// overflow the stack). Returns a component id per node.
fn components(deps: &[Vec<Dep>]) -> Vec<usize> {
    let n = deps.len();
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comp = vec![usize::MAX; n];
    let mut next_index = 0;
    let mut next_comp = 0;
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, next edge to look at)
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next_index;
        low[root] = next_index;
        next_index += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut e)) = call.last_mut() {
            if let Some(d) = deps[v].get(*e) {
                *e += 1;
                let w = d.on;
                if index[w] == usize::MAX {
                    index[w] = next_index;
                    low[w] = next_index;
                    next_index += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp[w] = next_comp;
                    if w == v {
                        break;
                    }
                }
                next_comp += 1;
            }
        }
    }
    comp
}

/// Recomputes every image's `inferred_depends_on` (and
/// `unused_depends_on`) from its Dockerfile. Only directory contexts whose
/// Dockerfile can be read contribute; git contexts and missing files are
/// skipped silently (missing ones are reported by validation).
pub(crate) fn infer_deps(images: &mut [ImageConfig]) {
    let refs: Vec<Option<Vec<String>>> = images
        .iter()
        .map(|img| match &img.source {
            Source::Build {
                context: ContextSource::Dir(dir),
                dockerfile,
            } => dockerfile
                .text_in(dir)
                .map(|text| dockerfile_refs(&text, &img.args, img.target.as_deref())),
            _ => None,
        })
        .collect();
    let built_tags: Vec<&String> = images
        .iter()
        .filter(|i| !i.is_prebuilt())
        .flat_map(|i| &i.tags)
        .collect();
    let targets: Vec<(String, Vec<String>)> = images
        .iter()
        .map(|img| {
            let mut names = img.tags.clone();
            if let Source::Prebuilt { image } = &img.source {
                names.push(image.clone());
                // A prebuilt entry for an image the stack builds is not what
                // a Dockerfile uses: the build is.
                if names
                    .iter()
                    .any(|n| built_tags.iter().any(|t| ref_matches_tag(n, t)))
                {
                    names.clear();
                }
            }
            (img.name.clone(), names)
        })
        .collect();
    for (me, img) in images.iter_mut().enumerate() {
        let Some(refs) = &refs[me] else {
            img.inferred_depends_on = Vec::new();
            img.unused_depends_on = Vec::new();
            continue;
        };
        // Every other image the Dockerfile names, declared or not.
        let used: Vec<&String> = targets
            .iter()
            .enumerate()
            .filter(|(other, (_, tags))| {
                *other != me
                    && refs
                        .iter()
                        .any(|r| tags.iter().any(|t| ref_matches_tag(r, t)))
            })
            .map(|(_, (name, _))| name)
            .collect();
        img.inferred_depends_on = used
            .iter()
            .filter(|n| !img.depends_on.contains(n))
            .map(|n| (*n).clone())
            .collect();
        img.unused_depends_on = img
            .depends_on
            .iter()
            .filter(|d| {
                *d != &img.name && targets.iter().any(|(n, _)| n == *d) && !used.contains(d)
            })
            .cloned()
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(on: usize) -> Dep {
        Dep {
            on,
            inferred: false,
        }
    }

    #[test]
    fn cycles_are_found_once_per_component() {
        // 0 -> 1 -> 2 -> 0, 3 -> 3 is ignored (self edges are not built),
        // 4 -> 5 -> 4
        let deps = vec![
            vec![d(1)],
            vec![d(2)],
            vec![d(0)],
            vec![],
            vec![d(5)],
            vec![d(4)],
        ];
        assert_eq!(find_cycles(&deps), vec![vec![0, 1, 2], vec![4, 5]]);
        assert!(find_cycles(&[vec![], vec![d(0)]]).is_empty());
    }

    #[test]
    fn long_chain_does_not_overflow() {
        let n = 50_000;
        let deps: Vec<Vec<Dep>> = (0..n)
            .map(|i| if i + 1 < n { vec![d(i + 1)] } else { vec![] })
            .collect();
        assert!(find_cycles(&deps).is_empty());
    }
}

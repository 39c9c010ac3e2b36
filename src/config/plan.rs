//! The dependency graph between images: declared `depends_on` plus edges
//! inferred from Dockerfiles, cycle detection, build order, waves, and
//! selecting a subset of images with everything it needs.
//!
//! Everything here is total: a `Config` built by hand with cycles or
//! unknown names still gets a plan (cyclic images go last) rather than a
//! panic; [`super::load`] reports such problems before a plan is made.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

use super::dockerfile::{dockerfile_refs, tag_key};
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
    let mut names: HashMap<&str, usize> = HashMap::with_capacity(images.len());
    for (i, img) in images.iter().enumerate() {
        names.entry(img.name.as_str()).or_insert(i);
    }
    let index_of = |n: &str| names.get(n).copied();
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
/// skipped silently (missing ones are reported by validation). The tags
/// are indexed once (by [`tag_key`]), so a reference costs a lookup, not a
/// pass over every other image's tags.
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
    let by_tag = tag_index(images);
    let names: HashSet<&str> = images.iter().map(|i| i.name.as_str()).collect();
    let mut found = Vec::with_capacity(images.len());
    for (me, refs) in refs.iter().enumerate() {
        // Every other image the Dockerfile names, declared or not, in
        // file order.
        let used: Option<BTreeSet<usize>> = refs.as_ref().map(|refs| {
            refs.iter()
                .filter_map(|r| by_tag.get(&tag_key(r)?))
                .flatten()
                .copied()
                .filter(|&other| other != me)
                .collect()
        });
        found.push(used.map(|used| {
            let img = &images[me];
            let used: Vec<&String> = used.iter().map(|&o| &images[o].name).collect();
            let used_names: HashSet<&str> = used.iter().map(|n| n.as_str()).collect();
            let inferred: Vec<String> = used
                .iter()
                .filter(|n| !img.depends_on.contains(n))
                .map(|n| (*n).clone())
                .collect();
            let unused: Vec<String> = img
                .depends_on
                .iter()
                .filter(|d| {
                    *d != &img.name
                        && names.contains(d.as_str())
                        && !used_names.contains(d.as_str())
                })
                .cloned()
                .collect();
            (inferred, unused)
        }));
    }
    for (img, found) in images.iter_mut().zip(found) {
        (img.inferred_depends_on, img.unused_depends_on) = found.unwrap_or_default();
    }
}

/// The images a Dockerfile reference may name, by [`tag_key`]: each
/// image's tags, and a prebuilt image's reference, unless that names an
/// image the stack builds (what a Dockerfile uses then is the build).
fn tag_index(images: &[ImageConfig]) -> HashMap<String, Vec<usize>> {
    let built: HashSet<String> = images
        .iter()
        .filter(|i| !i.is_prebuilt())
        .flat_map(|i| &i.tags)
        .filter_map(|t| tag_key(t))
        .collect();
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, img) in images.iter().enumerate() {
        let mut keys: Vec<String> = img.tags.iter().filter_map(|t| tag_key(t)).collect();
        if let Source::Prebuilt { image } = &img.source {
            keys.extend(tag_key(image));
            let names: Vec<&String> = img.tags.iter().chain([image]).collect();
            if names
                .iter()
                .any(|n| tag_key(n).is_some_and(|k| built.contains(&k)))
            {
                keys.clear();
            }
        }
        for key in keys {
            let images = index.entry(key).or_default();
            if images.last() != Some(&i) {
                images.push(i);
            }
        }
    }
    index
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

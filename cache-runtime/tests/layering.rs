//! The runtime's modules import downward only, and stay small.
//!
//! Reads `src/`, takes every `crate::<module>` path outside comments and unit tests
//! as an edge from the top-level module it is written in (`config/build.rs` belongs
//! to `config`) to `<module>`, and checks that each edge points down the order in
//! [`LAYERS`], which `docs/architecture.md` explains. A cycle therefore fails the
//! test, and so does a new module until it is given its place. Unit tests (`mod
//! tests` blocks, `tests.rs` files) are left out: a test may build a whole cache.
//!
//! `cargo test -p cache-runtime --test layering -- --nocapture` prints the edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The top-level modules of `src/`, from the top down; a module may import only
/// modules after it. Rows group what `docs/architecture.md` calls one layer.
const LAYERS: &[&[&str]] = &[
    &["lib", "fixtures"],
    // the helpers generated code calls (`__private`)
    &["expansion"],
    // what generated code and users call
    &["global", "call", "entry", "testing"],
    // the lease protocol
    &["lease"],
    // invalidations and their retries; building a cache
    &["invalidation", "config"],
    // the function descriptor
    &["function"],
    // the cache handle
    &["cache"],
    // mechanisms
    &["retry", "flight", "freshness", "backend", "checks"],
    // leaves
    &[
        "group", "envelope", "outcome", "stats", "throttle", "key", "codec", "ttl", "guide",
    ],
];

/// "About 400 lines": the budget in `docs/architecture.md`, with a little slack.
const MAX_LINES: usize = 420;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, unit-test files excepted.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|err| panic!("{dir:?}: {err}"));
    for entry in entries {
        let path = entry.unwrap_or_else(|err| panic!("{dir:?}: {err}")).path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs")
            && path.file_name().is_some_and(|name| name != "tests.rs")
        {
            found.push(path);
        }
    }
}

/// The top-level module a file of `src/` belongs to.
fn module_of(path: &Path) -> String {
    let relative = path.strip_prefix(src()).unwrap_or(path);
    let first = relative.components().next().map_or_else(String::new, |c| {
        c.as_os_str().to_string_lossy().into_owned()
    });
    first.trim_end_matches(".rs").to_owned()
}

/// The code of a file without comments and without its `mod tests { .. }` block
/// (which, by this crate's habit, ends the file).
fn code(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|pair| pair[0].trim() == "#[cfg(test)]" && pair[1].starts_with("mod tests {"))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .copied()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect()
}

/// The edges: module -> the modules it imports.
fn edges() -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let from = module_of(&file);
        let text = std::fs::read_to_string(&file).unwrap_or_else(|err| panic!("{file:?}: {err}"));
        let imports = edges.entry(from.clone()).or_default();
        for line in code(&text) {
            assert!(
                !line.contains("crate::{"),
                "{file:?}: one `use crate::<module>::...` per module, so that the edges can be read: {line}"
            );
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    name.starts_with(|c: char| c.is_ascii_lowercase()) || name.is_empty(),
                    "{file:?}: `crate::{name}` goes through the crate root; name the module that defines it: {line}"
                );
                if !name.is_empty() && name != from {
                    imports.insert(name);
                }
            }
        }
    }
    edges
}

#[test]
fn modules_import_downward_only() {
    let rank: BTreeMap<&str, usize> = LAYERS
        .iter()
        .flat_map(|row| row.iter())
        .enumerate()
        .map(|(rank, module)| (*module, rank))
        .collect();
    let edges = edges();
    let mut wrong = Vec::new();
    for (from, imports) in &edges {
        println!(
            "{from} -> {}",
            Vec::from_iter(imports.iter().cloned()).join(", ")
        );
        let Some(from_rank) = rank.get(from.as_str()) else {
            wrong.push(format!("`{from}` has no place in LAYERS"));
            continue;
        };
        for to in imports {
            match rank.get(to.as_str()) {
                None => wrong.push(format!(
                    "`{to}` (imported by `{from}`) has no place in LAYERS"
                )),
                Some(to_rank) if to_rank <= from_rank => {
                    wrong.push(format!("`{from}` imports `{to}`, which is not below it"));
                }
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn modules_stay_small() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            (lines > MAX_LINES).then(|| format!("{file:?}: {lines} lines"))
        })
        .collect();
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines; split the module by job (unit tests may go to a `tests.rs` beside it):\n{}",
        long.join("\n")
    );
}

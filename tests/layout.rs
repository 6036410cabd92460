//! The layout rule of ARCHITECTURE.md: within each crate, no source file
//! imports in a circle. A file "imports" another when it names one of its
//! items by path (`crate::a::b`, `super::b`, or `child::item` for its own
//! child module); declaring a child module (`mod child;`) is containment,
//! not an import. Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path ("" for the crate root, "a::b" otherwise) to its source.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            // A test-only file (`mod tests;` in its own file) is not layout.
            if parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            found.insert(parts.join("::"), without_tests_and_comments(&std::fs::read_to_string(&path).unwrap()));
        }
    }
    found
}

fn without_tests_and_comments(source: &str) -> String {
    let code = match source.find("#[cfg(test)]\nmod tests") {
        Some(at) => &source[..at],
        None => source,
    };
    code.lines().map(|line| line.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths written after each occurrence of `prefix` (`prefix` itself
/// excluded), with `a::{b, c::{d}}` expanded to `a::b`, `a::c`.
fn paths_after(code: &str, prefix: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| is_ident(c) || c == ':') {
            continue;
        }
        let head: String = rest.chars().take_while(|&c| is_ident(c) || c == ':').collect();
        let head = head.trim_end_matches(':').to_string();
        let after = &rest[head.len()..];
        if let Some(group) = after.strip_prefix("::{").or_else(|| (head.is_empty()).then(|| after.strip_prefix('{')).flatten()) {
            let mut depth = 0;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        paths.push(join(&head, &item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                if depth == 0 && c != '{' {
                    item.push(c);
                }
            }
            paths.push(join(&head, &item));
        } else {
            paths.push(head);
        }
    }
    paths
}

fn join(head: &str, item: &str) -> String {
    let item: String = item.trim().chars().take_while(|&c| is_ident(c) || c == ':').collect();
    let item = item.trim_end_matches(':');
    match (head.is_empty(), item.is_empty()) {
        (_, true) => head.to_string(),
        (true, false) => item.to_string(),
        (false, false) => format!("{head}::{item}"),
    }
}

/// The longest module that `path` starts with.
fn resolve(modules: &BTreeMap<String, String>, path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty() && *p != "self").collect();
    (1..=parts.len()).rev().map(|n| parts[..n].join("::")).find(|candidate| modules.contains_key(candidate))
}

fn parent(module: &str) -> &str {
    module.rsplit_once("::").map_or("", |(p, _)| p)
}

fn imports(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, code) in modules {
        let mut targets = BTreeSet::new();
        for path in paths_after(code, "crate::") {
            targets.extend(resolve(modules, &path));
        }
        if !module.is_empty() {
            for path in paths_after(code, "super::") {
                let mut up = parent(module);
                let mut path = path.as_str();
                while let Some(rest) = path.strip_prefix("super::") {
                    up = parent(up);
                    path = rest;
                }
                let full = if up.is_empty() { path.to_string() } else { format!("{up}::{path}") };
                targets.extend(resolve(modules, &full).or_else(|| (!up.is_empty()).then(|| up.to_string())));
            }
        }
        for child in modules.keys().filter(|c| !c.is_empty() && parent(c) == module.as_str()) {
            let name = child.rsplit("::").next().unwrap();
            if !paths_after(code, &format!("{name}::")).is_empty() {
                targets.insert(child.clone());
            }
        }
        // The crate root only declares modules and re-exports; a module
        // naming its own ancestor's items is not a cycle through itself.
        targets.retain(|t| t != module && !t.is_empty() && !module.starts_with(&format!("{t}::")));
        edges.insert(module.clone(), targets);
    }
    edges
}

/// One import cycle, if any (as the modules along it).
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_string(), Mark::Open);
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            match marks.get(next.as_str()) {
                Some(Mark::Open) => {
                    let start = path.iter().position(|p| p == next).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(Mark::Done) => {}
                None => {
                    if let Some(cycle) = visit(next, edges, marks, path) {
                        return Some(cycle);
                    }
                }
            }
        }
        path.pop();
        marks.insert(node.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in edges.keys() {
        if !marks.contains_key(node.as_str()) {
            if let Some(cycle) = visit(node, edges, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}

fn crate_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    sources.sort();
    sources
}

#[test]
fn no_source_file_imports_in_a_circle() {
    let sources = crate_sources();
    assert!(sources.len() >= 5, "crates not found: {sources:?}");
    for src in sources {
        let modules = modules(&src);
        let edges = imports(&modules);
        if let Some(cycle) = find_cycle(&edges) {
            panic!("{}: files import in a circle: {}", src.display(), cycle.join(" -> "));
        }
    }
}

#[test]
fn the_checker_sees_the_kinds_of_import() {
    let mut modules = BTreeMap::new();
    modules.insert("a".to_string(), "use crate::b::{self, Thing};".to_string());
    modules.insert("b".to_string(), "fn f() { c::g(); }".to_string());
    modules.insert("b::c".to_string(), "use super::super::a::X;".to_string());
    let edges = imports(&modules);
    assert_eq!(edges["a"], BTreeSet::from(["b".to_string()]));
    assert_eq!(edges["b"], BTreeSet::from(["b::c".to_string()]));
    assert_eq!(edges["b::c"], BTreeSet::from(["a".to_string()]));
    let cycle = find_cycle(&edges).expect("a -> b -> b::c -> a is a circle");
    assert_eq!(cycle.first(), cycle.last());
    modules.insert("b::c".to_string(), "use crate::d::Y;".to_string());
    modules.insert("d".to_string(), String::new());
    assert_eq!(find_cycle(&imports(&modules)), None);
}

//! The house rules on imports, read from the `crate::…` paths of `src/**/*.rs`:
//!
//! - nothing imports the crate root (`crate::Services`, say: `crate::services::Services`);
//! - a domain imports another only through its `mod.rs` (`crate::agents::Agent`, never
//!   `crate::agents::store::Agent`);
//! - the house (every folder and file that is not a domain) imports no domain, but where it
//!   lists them ([`COMPOSITION`]) and auth, whose `Viewer` every request carries;
//! - src's folders import each other without a loop. The files at src's root (`services.rs`,
//!   `config.rs`, `domain.rs`, `error.rs`, …) are the house every folder shares, not nodes.
//!
//! Domains that do not exist yet are simply not there to check.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The domains, existing or planned.
const DOMAINS: [&str; 8] = [
    "agents",
    "auth",
    "channels",
    "conversations",
    "meetings",
    "media",
    "broadcasts",
    "webhooks",
];

/// Where the house lists the domains: the server's wiring, their settings, the schema's roots
/// and the health that gathers what each reports.
const COMPOSITION: [&str; 4] = ["lib.rs", "config.rs", "graphql/mod.rs", "graphql/health.rs"];

/// The one domain the house may use: who is calling.
const HOUSE_MAY_USE: [&str; 1] = ["auth"];

/// One `crate::…` path a file names, resolved from the crate root.
struct Import {
    /// The file, relative to `src/`, with `/` separators.
    file: String,
    path: Vec<String>,
}

impl Import {
    fn show(&self) -> String {
        format!("{}: crate::{}", self.file, self.path.join("::"))
    }
}

#[test]
fn imports_follow_the_house_rules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let imports = read_imports(&src);
    assert!(
        imports.len() > 100,
        "only {} imports read: is the parser broken?",
        imports.len()
    );
    let mut broken = Vec::new();
    let is_module =
        |name: &str| src.join(format!("{name}.rs")).is_file() || src.join(name).is_dir();
    let is_submodule = |domain: &str, name: &str| {
        src.join(domain).join(format!("{name}.rs")).is_file()
            || src.join(domain).join(name).is_dir()
    };

    for import in &imports {
        let target = import.path[0].as_str();
        if !is_module(target) {
            broken.push(format!(
                "{}: nothing imports the crate root; name the module",
                import.show()
            ));
            continue;
        }
        let from = top(&import.file);
        if from == target || !DOMAINS.contains(&target) {
            continue;
        }
        if DOMAINS.contains(&from) {
            if import.path.len() > 2 && is_submodule(target, &import.path[1]) {
                broken.push(format!(
                    "{}: a domain imports another only through its mod.rs; re-export what is needed there",
                    import.show()
                ));
            }
        } else if !COMPOSITION.contains(&import.file.as_str()) && !HOUSE_MAY_USE.contains(&target) {
            broken.push(format!(
                "{}: the house imports no domain but where it lists them ({COMPOSITION:?})",
                import.show()
            ));
        }
    }

    let graph = folder_graph(&src, &imports);
    if let Some(cycle) = find_cycle(&graph) {
        let steps: Vec<String> = cycle
            .windows(2)
            .map(|pair| {
                format!(
                    "  {} -> {}: {}",
                    pair[0], pair[1], graph[&pair[0]][&pair[1]]
                )
            })
            .collect();
        broken.push(format!(
            "the folders import each other in a loop:\n{}",
            steps.join("\n")
        ));
    }

    assert!(
        broken.is_empty(),
        "{}\n\nthe folders' imports:\n{}",
        broken.join("\n"),
        show_graph(&graph)
    );
}

/// The folder each file is in (or its own name, for a file at src's root).
fn top(file: &str) -> &str {
    let first = file.split('/').next().unwrap_or(file);
    first.strip_suffix(".rs").unwrap_or(first)
}

/// Folder -> folder it imports -> one import that shows it. Composition files' imports of
/// domains are not edges: listing the domains is what they are for.
type Graph = BTreeMap<String, BTreeMap<String, String>>;

fn folder_graph(src: &Path, imports: &[Import]) -> Graph {
    let mut graph = Graph::new();
    for import in imports {
        let (from, to) = (top(&import.file), import.path[0].as_str());
        let folders = import.file.contains('/') && src.join(to).is_dir();
        let listing = COMPOSITION.contains(&import.file.as_str()) && DOMAINS.contains(&to);
        if from == to || !folders || listing {
            continue;
        }
        graph
            .entry(from.to_string())
            .or_default()
            .entry(to.to_string())
            .or_insert_with(|| import.show());
    }
    graph
}

fn show_graph(graph: &Graph) -> String {
    graph
        .iter()
        .map(|(from, to)| {
            let to: Vec<&str> = to.keys().map(String::as_str).collect();
            format!("  {from} -> {}", to.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A loop, as the nodes along it with the first repeated at the end.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flat_map(BTreeMap::keys) {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn read_imports(src: &Path) -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    files.sort();
    let mut imports = Vec::new();
    for path in files {
        let file = path
            .strip_prefix(src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if file == "main.rs" {
            // The binary: a crate of its own, using the library by its name.
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&path).unwrap());
        let paths: BTreeSet<Vec<String>> =
            paths_in(&code, &module_path(&file)).into_iter().collect();
        imports.extend(paths.into_iter().map(|path| Import {
            file: file.clone(),
            path,
        }));
    }
    imports
}

/// `meetings/store.rs` -> `[meetings, store]`; `meetings/mod.rs` -> `[meetings]`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_string)
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts
}

/// The text with comments, and the contents of string and character literals, blanked.
fn code_only(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r'
            && matches!(next, Some('"' | '#'))
            && !ident_char(chars.get(i.wrapping_sub(1)))
        {
            // A raw string: r"…", r#"…"#.
            let mut j = i + 1;
            let mut hashes = 0;
            while chars.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if chars.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            while j < chars.len() {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            out.push_str("\"\"");
            i += 1;
        } else if c == '\'' && next == Some('\\') {
            i += 3;
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            out.push_str("' '");
            i += 1;
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            out.push_str("' '");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_char(c: Option<&char>) -> bool {
    c.is_some_and(|c| c.is_alphanumeric() || *c == '_')
}

/// Every path from the crate root the code names: in `use` trees (`crate::`, `super::`) and
/// written out in full (`crate::input::id(…)`), and through a domain brought in by name
/// (`use crate::auth;` … `auth::webhook::sign`).
fn paths_in(code: &str, module: &[String]) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut named_domains = BTreeMap::new();
    let inline = inline_modules(code);
    for (at, tree) in use_trees(code) {
        // `use super::*` in a file's `mod tests { … }` is the file's module.
        let module: Vec<String> = module
            .iter()
            .cloned()
            .chain(
                inline
                    .iter()
                    .filter(|(open, close, _)| (*open..*close).contains(&at))
                    .map(|(_, _, name)| name.clone()),
            )
            .collect();
        for (path, name) in expand(&tree) {
            let Some(path) = resolve(&path, &module) else {
                continue;
            };
            if path.len() == 1 && DOMAINS.contains(&path[0].as_str()) {
                named_domains.insert(name.unwrap_or_else(|| path[0].clone()), path[0].clone());
            }
            paths.push(path);
        }
    }
    for (at, _) in code.match_indices("crate::") {
        if at > 0
            && (ident_char(code[..at].chars().last().as_ref()) || code[..at].ends_with(['$', ':']))
        {
            continue;
        }
        let path = path_at(&code[at + "crate::".len()..]);
        if !path.is_empty() {
            paths.push(path);
        }
    }
    for (name, domain) in &named_domains {
        let prefix = format!("{name}::");
        for (at, _) in code.match_indices(&prefix) {
            let before = code[..at].chars().last();
            if ident_char(before.as_ref()) || before == Some(':') {
                continue;
            }
            let mut path = vec![domain.clone()];
            path.extend(path_at(&code[at + prefix.len()..]));
            if path.len() > 1 {
                paths.push(path);
            }
        }
    }
    paths
}

/// `a::b::C` at the start of `text`, as far as it goes.
fn path_at(text: &str) -> Vec<String> {
    let mut path = Vec::new();
    let mut rest = text;
    loop {
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        path.push(rest[..len].to_string());
        match rest[len..].strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    path
}

/// The modules written inline (`mod tests { … }`): where their braces open and close, and
/// their names, outermost first.
fn inline_modules(code: &str) -> Vec<(usize, usize, String)> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        if at > 0 && ident_char(code[..at].chars().last().as_ref()) {
            continue;
        }
        let name = path_at(&code[at + 4..]);
        let [name] = name.as_slice() else { continue };
        let after = code[at + 4 + name.len()..].trim_start();
        if !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0;
        let mut close = code.len();
        for (i, b) in code.as_bytes()[open..].iter().enumerate() {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        found.push((open, close, name.clone()));
    }
    found
}

/// The tree of every `use` declaration, whitespace removed (`crate::{a,b::C}`), with where
/// it is.
fn use_trees(code: &str) -> Vec<(usize, String)> {
    let mut trees = Vec::new();
    for (at, _) in code.match_indices("use ") {
        if at > 0 && ident_char(code[..at].chars().last().as_ref()) {
            continue;
        }
        let rest = &code[at + 4..];
        let Some(end) = rest.find(';') else { continue };
        let tree: String = rest[..end]
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" as ", "@")
            .replace(' ', "");
        if tree.starts_with("crate::") || tree.starts_with("super::") || tree.starts_with("self::")
        {
            trees.push((at, tree));
        }
    }
    trees
}

/// A use tree's paths, each with the name it is bound to when renamed or `self`.
fn expand(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    let Some(open) = tree.find('{') else {
        let (path, alias) = match tree.split_once('@') {
            Some((path, alias)) => (path, Some(alias.to_string())),
            None => (tree, None),
        };
        let path: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        return vec![(path, alias)];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|part| !part.is_empty())
        .flat_map(|part| {
            if part == "self" || part.starts_with("self@") {
                let mut expanded = expand(prefix.trim_end_matches("::"));
                if let Some(alias) = part.strip_prefix("self@") {
                    expanded[0].1 = Some(alias.to_string());
                }
                expanded
            } else {
                expand(&format!("{prefix}{part}"))
            }
        })
        .collect()
}

/// A use path from the crate root, when it starts with `crate`, `super` or `self`.
fn resolve(path: &[String], module: &[String]) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let resolved: Vec<String> = match first.as_str() {
        "crate" => rest.to_vec(),
        "self" => module.iter().chain(rest).cloned().collect(),
        "super" => {
            let ups = path.iter().take_while(|s| *s == "super").count();
            let base = &module[..module.len().checked_sub(ups)?];
            base.iter().chain(&path[ups..]).cloned().collect()
        }
        _ => return None,
    };
    (!resolved.is_empty()).then_some(resolved)
}

#[test]
fn use_trees_are_read_as_the_compiler_reads_them() {
    let code = code_only(
        "use crate::{agents::{self, Agent}, auth as who};\n\
         // use crate::media::store::Photo;\n\
         use super::super::events::Topic;\n\
         fn f() { let s = \"crate::broadcasts::x\"; crate::input::id(s); agents::store::get(); }\n\
         let c = '\\''; let q = '\"'; fn g<'a>(x: &'a str) {}\n\
         mod tests { use super::*; use super::super::Gateway; }\n",
    );
    let paths = paths_in(
        &code,
        &["graphql".into(), "websocket".into(), "frames".into()],
    );
    let shown: BTreeSet<String> = paths.iter().map(|p| p.join("::")).collect();
    let expected = [
        "agents",
        "agents::Agent",
        "agents::store::get",
        "auth",
        "graphql::websocket::Gateway",
        "graphql::events::Topic",
        "graphql::websocket::frames::*",
        "input::id",
    ];
    assert_eq!(shown, expected.iter().map(|s| s.to_string()).collect());
}

#[test]
fn a_loop_is_found_and_shown_from_where_it_starts() {
    let mut graph = Graph::new();
    for (from, to) in [("a", "b"), ("b", "c"), ("c", "b"), ("d", "a")] {
        graph
            .entry(from.into())
            .or_default()
            .insert(to.into(), String::new());
    }
    assert_eq!(find_cycle(&graph).unwrap(), ["b", "c", "b"]);
    graph.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&graph), None);
}

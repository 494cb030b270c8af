//! The store's modules import one another without a circle: a module that names
//! `crate::other` depends on `other`, and following those names never leads back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module of `src/` (but `lib`) with the modules of `src/` it names as `crate::…`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules: BTreeSet<String> = std::fs::read_dir(&src)
        .expect("src")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .filter(|m| m != "lib")
        .collect();
    modules
        .iter()
        .map(|m| {
            let text = std::fs::read_to_string(src.join(format!("{m}.rs"))).expect("module");
            let named = text
                .split("crate::")
                .skip(1)
                .map(|rest| {
                    rest.chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect::<String>()
                })
                .filter(|n| n != m && modules.contains(n))
                .collect();
            (m.clone(), named)
        })
        .collect()
}

/// A circle through `module`, if following its imports comes back to one on the path.
fn circle_from(
    module: &str,
    graph: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(start) = path.iter().position(|m| m == module) {
        let mut circle = path[start..].to_vec();
        circle.push(module.to_owned());
        return Some(circle);
    }
    path.push(module.to_owned());
    for next in graph.get(module).into_iter().flatten() {
        if let Some(circle) = circle_from(next, graph, path) {
            return Some(circle);
        }
    }
    path.pop();
    None
}

#[test]
fn no_module_of_the_store_imports_itself_through_another() {
    let graph = imports();
    assert!(graph.contains_key("request") && graph.contains_key("step"));
    for module in graph.keys() {
        if let Some(circle) = circle_from(module, &graph, &mut Vec::new()) {
            panic!(
                "the store's modules import in a circle: {}",
                circle.join(" → ")
            );
        }
    }
}

#[test]
fn the_circle_check_finds_a_circle_when_there_is_one() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"])]
            .into_iter()
            .map(|(m, named)| (m.to_owned(), named.into_iter().map(str::to_owned).collect()))
            .collect();
    assert_eq!(
        circle_from("a", &graph, &mut Vec::new()),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}

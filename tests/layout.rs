//! The runtime crate's shape, checked: its public surface is the list below
//! (a new public item is a decision, made here, not an accident), no file is
//! much beyond 600 lines, and its modules import each other without a cycle
//! (see the crate docs' "How it works").

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pg-bulk-ingest/src")
}

/// Every `.rs` file under `dir`, relative to it.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(
                files(&path)
                    .into_iter()
                    .map(|p| Path::new(path.file_name().unwrap()).join(p)),
            );
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(PathBuf::from(path.file_name().unwrap()));
        }
    }
    out.sort();
    out
}

/// The public items of the crate's public modules (the crate root and
/// `plan`): `pub` declarations and `pub use` re-exports, one a line, without
/// their bodies.
fn public_items(file: &str) -> Vec<String> {
    let text = fs::read_to_string(src().join(file)).unwrap();
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("pub ") else {
            continue;
        };
        let mut item = rest.to_owned();
        // A `pub use` over several lines.
        while item.starts_with("use ") && !item.ends_with(';') {
            item.push(' ');
            item.push_str(lines.next().unwrap().trim());
        }
        let head: String = item
            .split(['(', '<', '{', ';'])
            .next()
            .unwrap()
            .trim()
            .to_owned();
        out.push(if item.starts_with("use ") {
            item.trim_end_matches(';')
                .replace(" }", "}")
                .replace(",}", "}")
                .replace("{ ", "{")
        } else {
            head
        });
    }
    out
}

#[test]
fn the_public_surface_is_what_users_need() {
    assert_eq!(
        public_items("lib.rs"),
        [
            "mod plan",
            "use conflict::{ConflictKey, Duplicates, OnConflict}",
            "use copy::encode_row",
            "use encode::{Encode, EncodeError, FieldError, RowWriter}",
            "use error::{Error, Result}",
            "use ident::{Ident, QualifiedName}",
            "use ingest::{create_partitions, Batch, HighWatermark, Ingest, NewTable, Phase, Progress, Report, TableReport, UpsertStrategy, Visible}",
            "use plan::{Mode, NewTableKind, Plan}",
            "use row::{AsRow, BulkEnum, BulkRows, BulkTable, HasPrimaryKey, HasUniqueKey}",
            "use sync::{Delete, Slice}",
            "use table::{ColumnDef, Filled, Generated, IndexDef, PartitionDef, PartitionInterval, PartitionMethod, TableDef}",
            "use types::{EnumDef, SqlType, TypeKind}",
            "use watermark::high_watermark",
            "mod docs",
            "use pg_bulk_ingest_derive::BulkTable",
            "use pg_bulk_ingest_derive::BulkRows",
            "use pg_bulk_ingest_derive::BulkEnum",
            "fn insert",
            "fn upsert",
            "fn replace",
            "fn plan",
            "fn prepare",
            "mod __private",
        ]
    );
    assert_eq!(
        public_items("plan/mod.rs"),
        [
            "use crate::diff::{Cast, Change, Refusal}",
            "use crate::lock::LockMode",
            "enum Mode",
            "enum Path",
            "enum Stage",
            "enum NewTableKind",
            "struct Lock",
            "struct Step",
            "struct Plan",
        ]
    );
    // Planning's and the catalog's own types stay inside the crate: fields
    // of the public plan types are private, read through methods.
    let plan = fs::read_to_string(src().join("plan/mod.rs")).unwrap();
    assert!(
        !plan
            .lines()
            .any(|l| l.starts_with("    pub ") && l.contains(':') && !l.contains("fn ")),
        "a public field in plan/mod.rs"
    );
}

#[test]
fn no_file_of_the_runtime_crate_is_much_over_600_lines() {
    for file in files(&src()) {
        let lines = fs::read_to_string(src().join(&file))
            .unwrap()
            .lines()
            .count();
        assert!(lines <= 700, "{} has {lines} lines", file.display());
    }
}

#[test]
fn the_runtime_modules_import_each_other_without_a_cycle() {
    // Top-level module -> the top-level modules its code (not its comments
    // or tests) names as `crate::x`.
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let tops: BTreeSet<String> = files(&src())
        .iter()
        .map(|f| top(f))
        .filter(|t| t != "lib")
        .collect();
    for file in files(&src()) {
        let module = top(&file);
        if module == "lib" {
            continue;
        }
        let text = fs::read_to_string(src().join(&file)).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for line in code.lines().map(str::trim).filter(|l| !l.starts_with("//")) {
            for (at, _) in line.match_indices("crate::") {
                let name: String = line[at + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                if tops.contains(&name) && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    // Depth-first search for a back edge.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) {
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(1) => panic!("import cycle: {} -> {next}", path.join(" -> ")),
                Some(_) => {}
                None => visit(next, graph, state, path),
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        if !state.contains_key(node) {
            visit(node, &graph, &mut state, &mut Vec::new());
        }
    }
    // Planning is pure: it reads nothing and runs nothing.
    for pure in ["plan", "diff", "sql"] {
        let deps = &graph[pure];
        assert!(!deps.contains("ingest"), "{pure} imports ingest: {deps:?}");
    }
}

fn top(file: &Path) -> String {
    let first = file
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_owned()
}

//! # tms-core
//!
//! The business core of TMS, a multi-tenant, multi-branch travel agency
//! platform: domain types, the policy engine, security primitives, the ports
//! through which the core reaches the outside world, and the services (use
//! cases) built on them. This crate performs no I/O: storage, mail, files and
//! HTTP live in `tms-adapters` and `tms-http`, behind the traits in [`ports`].
//!
//! Start with [`policy::authorize`], [`money::Money`] and
//! [`security::password`]; the top-level `tms` crate re-exports everything.

#![deny(rustdoc::broken_intra_doc_links)]

pub mod audit;
pub mod domain;
pub mod error;
pub mod files;
pub mod id;
pub mod money;
pub mod policy;
pub mod ports;
pub mod security;
pub mod service;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use error::{Error, FieldError, FieldErrors, Result};

/// The promise that this crate does no I/O, kept by a test: none of the
/// crates that talk to databases, object stores, mail servers or the network
/// may appear anywhere in its dependency graph (normal or dev), as recorded
/// in the workspace's `Cargo.lock`.
#[cfg(test)]
mod no_io {
    use std::collections::{BTreeMap, BTreeSet};

    const FORBIDDEN: &[&str] = &[
        "sqlx",
        "sqlx-core",
        "sea-query",
        "object_store",
        "lettre",
        "axum",
        "hyper",
        "reqwest",
        "tokio-postgres",
        "rusqlite",
        "libsqlite3-sys",
        "oauth2",
        "printpdf",
    ];

    /// `name -> dependency names` from Cargo.lock (versions dropped: the
    /// closure over names is a superset of the real graph, which is the safe
    /// direction for this check).
    fn lock_graph() -> BTreeMap<String, Vec<String>> {
        let lock = include_str!("../../Cargo.lock");
        let mut graph: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for package in lock.split("[[package]]").skip(1) {
            let mut name = None;
            let mut deps = vec![];
            let mut in_deps = false;
            for line in package.lines() {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("name = ") {
                    name = Some(rest.trim_matches('"').to_owned());
                } else if line.starts_with("dependencies = [") {
                    in_deps = true;
                } else if in_deps && line.starts_with(']') {
                    in_deps = false;
                } else if in_deps {
                    let dep = line.trim_matches(|c| c == '"' || c == ',');
                    if let Some(dep_name) = dep.split_whitespace().next() {
                        deps.push(dep_name.to_owned());
                    }
                }
            }
            if let Some(name) = name {
                graph.entry(name).or_default().extend(deps);
            }
        }
        graph
    }

    #[test]
    fn tms_core_depends_on_no_io_crate() {
        let graph = lock_graph();
        assert!(
            graph.contains_key("tms-core"),
            "Cargo.lock has no tms-core entry"
        );
        let mut seen = BTreeSet::new();
        let mut todo = vec!["tms-core".to_owned()];
        while let Some(name) = todo.pop() {
            if seen.insert(name.clone()) {
                todo.extend(graph.get(&name).cloned().unwrap_or_default());
            }
        }
        let found: Vec<_> = FORBIDDEN.iter().filter(|f| seen.contains(**f)).collect();
        assert!(found.is_empty(), "tms-core reaches I/O crates: {found:?}");
        // The check itself works: the graph is walked beyond direct deps.
        assert!(seen.contains("generic-array") || seen.contains("typenum"));
    }
}

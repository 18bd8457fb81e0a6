//! Compile-time diagnostics of `#[derive(BulkTable)]` and of the ingest
//! functions: each `tests/ui/*.rs` must fail to compile with exactly the
//! error in its `.stderr` file, and each `tests/ui/pass/*.rs` must compile and
//! run (its `main` asserts what the derive generated).
//!
//! Regenerate the expected output after a deliberate change of a message with
//! `TRYBUILD=overwrite cargo test --test compile_fail`, then review the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
    t.pass("tests/ui/pass/*.rs");
}

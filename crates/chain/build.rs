//! The bindings (`src/bindings.rs`) are generated at compile time from the committed contract artifacts, which
//! cargo does not see as sources: without this a changed artifact could leave stale bindings in a build cache.
fn main() {
    // A directory: cargo looks at every file in it.
    println!("cargo:rerun-if-changed=../../contracts/artifacts");
}

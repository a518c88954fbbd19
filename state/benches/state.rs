//! Placeholder replaced by the state benchmark.
fn main() {}

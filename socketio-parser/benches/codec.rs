//! Placeholder (added by the engine-io helper so the workspace parses); the parser helper replaces it.
fn main() {}

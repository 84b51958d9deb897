// README.md's Rust examples, compiled as doctests of this library, so that
// they cannot drift from the API: `cargo test --doc -p switchboard-suite`.
// Examples that need a server are `no_run` (compiled, not run); hidden
// lines (`# `) hold the setup each example leaves out.
#![doc = include_str!("README.md")]
#![forbid(unsafe_code)]

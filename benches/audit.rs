//! Audit log throughput (work in progress).

fn main() {}

//! The console's API through actix-web's test service (and, where a real
//! socket matters, a real server on 127.0.0.1:0), against SQLite pools.
//! One file per behaviour.

#![allow(clippy::unwrap_used)]

mod actions;
mod audit;
mod bad_input;
mod secrets;
mod shapes;
mod stream;
mod support;

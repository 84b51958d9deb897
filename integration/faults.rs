//! Faults under load, against a private PostgreSQL that each test starts,
//! stops and restarts itself (support/private_pg.rs); the machine's shared
//! servers are never stopped.
//!
//! - [`restart`]: the server restarts under 32 callers: every call ends on
//!   time with success or a clear error, the pool is whole again soon
//!   after, and the event stream tells the story;
//! - [`recovery`]: what the pool owes after an outage: its minimum size
//!   without callers, and no dead connection handed on;
//! - [`shutdown`]: shutdown while the server is down keeps its deadline;
//! - [`subscribers`]: a lossless subscriber that dies mid-load loses
//!   nothing and sees nothing twice; a stalled lossless one fails statements
//!   with `Backpressure`; a stalled lossy one costs nothing;
//! - [`load`]: the callers, and what records their calls and the events.

mod load;
mod recovery;
mod restart;
mod shutdown;
mod subscribers;

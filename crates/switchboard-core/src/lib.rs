//! Switchboard core (work in progress).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod class;
pub use class::StatementClass;

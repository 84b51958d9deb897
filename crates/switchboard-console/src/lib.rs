//! Switchboard's operations console: a live web page of pools, their
//! connections and their events, served by actix-web from inside the
//! application, with the JSON, Server-Sent Events and Prometheus API it is
//! built on.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard::Switchboard;
//! use switchboard_console::Console;
//!
//! let shop = Switchboard::builder("sqlite::memory:").name("shop").start().await?;
//! let console = Console::builder()
//!     .listen("127.0.0.1:9100")   // the default; 127.0.0.1 unless told otherwise
//!     .watch(&shop)               // watch several pools with several calls
//!     .start()?;                  // inside the application's actix System
//! println!("console: {}", console.url());
//! # Ok(()) }
//! ```
//!
//! - [`builder`]: what a console watches ([`ConsoleBuilder::watch`],
//!   [`ConsoleBuilder::rules`]) and how it serves it;
//! - [`config`]: listen address, tokens and bounds, with their defaults;
//! - [`console`]: the running [`Console`], and [`ConsoleService`] to mount
//!   the routes in an `App` of your own;
//! - [`token`]: bearer tokens;
//! - [`filter`]: the event stream's query parameters;
//! - `feed`: from each pool's bus to the browsers (a tap, pacing, ring
//!   buffer, clients' bounded buffers);
//! - `activity`: per-second counts, denials, slowest statements, leaks;
//! - `http`: routes, authorization, errors, the embedded page;
//! - [`error`]: what can go wrong starting one.
//!
//! # Safety
//!
//! It listens on 127.0.0.1 unless told otherwise. With a [token](ConsoleConfig::token),
//! every data request needs it. Bind values never leave it (only their
//! SQL types, whatever the pool's `ParamPolicy`), nor passwords. The page
//! runs under a strict Content-Security-Policy (its own script and style
//! only) and writes data as text, never as markup. Event stream clients
//! are bounded in number and in what each may have waiting; one that falls
//! behind is dropped and counted, and what the console streams goes
//! through a bounded buffer that drops (and counts) what does not fit, so
//! no browser can slow a statement. Actions are off unless an
//! [actions token](ConsoleConfig::actions) is set.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod activity;
mod audit;
pub mod builder;
pub mod config;
pub mod console;
pub mod error;
mod feed;
pub mod filter;
mod http;
mod state;
pub mod token;

pub use builder::ConsoleBuilder;
pub use config::ConsoleConfig;
pub use console::{Console, ConsoleService};
pub use error::{Error, Result};
pub use feed::hub::StreamStats;
pub use state::ConsoleStats;
pub use token::Token;

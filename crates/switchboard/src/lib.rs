//! Switchboard: an actor-based database connection manager.
//!
//! Every connection lives in its own actix actor and publishes its lifecycle
//! (connecting, connected, executing, executed, failed, transactions,
//! closing, closed) onto a bus, where subscribers log, audit and enforce
//! rules. Start a pool with [`Switchboard::builder`], attach subscribers
//! ([`Subscriber`]), and send query messages.
//!
//! - [`handle`]: the [`Switchboard`] handle users hold;
//! - [`builder`]: configuring and starting a pool;
//! - [`messages`]: [`Execute`], [`Load`], [`Transaction`], [`Interact`],
//!   [`Checkout`], [`Shutdown`];
//! - [`lease`]: a connection borrowed for a session;
//! - [`config`]: pool configuration and its defaults;
//! - [`backend`]: PostgreSQL, MySQL/MariaDB and SQLite behind [`DbConnection`],
//!   each a cargo feature (`postgres`, `mysql`, `sqlite`; all three by default);
//! - [`guarded`]: the connection closures get, every statement guarded;
//!   transaction options and savepoints;
//! - `pool` (the Manager actor and its decisions) and `connection`: the
//!   actors;
//! - [`guard`]: guards that may veto a connect or a statement
//!   ([`Builder::guard`]);
//! - subscribers attach through [`Builder::attach`] and
//!   [`Switchboard::attach`]; the raw subscriptions (actors, closures,
//!   channels, [`listen`](Bus::listen)) are the [`Bus`]'s.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

#[cfg(not(any(feature = "postgres", feature = "mysql", feature = "sqlite")))]
compile_error!(
    "switchboard needs at least one backend: enable its `postgres`, `mysql` or `sqlite` feature"
);

pub mod backend;
mod bind;
pub mod builder;
pub mod config;
mod connection;
pub mod guarded;
pub mod handle;
pub mod lease;
mod load;
pub mod messages;
mod pool;
mod shared;
mod statement;
mod timings;

/// A map keyed by the pool's own numbers (connection and waiter ids, type
/// ids, addresses) or its own texts: foldhash, seeded at random per map,
/// instead of the standard library's SipHash, whose cost showed on every
/// statement (callgrind: about 2,500 instructions of an `INSERT`'s 43,000).
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

pub use backend::DbConnection;
pub use bind::{BindMysql, BindPg, BindSqlite, BindValue, Typed};
pub use builder::Builder;
pub use config::{Backoff, HealthCheck, ParamPolicy, PoolConfig, ResetPolicy};
pub use connection::{CheckoutHook, DisconnectHook, SetupHook};
/// diesel, re-exported so user code builds queries with the same version.
pub use diesel;
/// diesel-async, re-exported for `Interact` and `Transaction` closures.
pub use diesel_async;
pub use guarded::{Guarded, Isolation, TxOptions};
pub use handle::Switchboard;
pub use lease::Lease;
pub use load::{LoadAny, LoadMysql, LoadPg, LoadSqlite};
pub use messages::{Checkout, Execute, Interact, Load, Opts, Request, Shutdown, Transaction};
pub use pool::{Dispatched, Manager, Recycle, Status};
/// Guards: asked before every connect and statement, able to veto.
pub use switchboard_core::guard;
pub use switchboard_core::status::{
    ConnectionState, ConnectionStatus, CurrentStatement, PoolGauges, PoolStats, PoolStatus,
};
pub use switchboard_core::{
    ActorRole, Backend, Bus, Check, CloseReason, ConnectionId, DbErrorKind, Delivery, Error,
    ErrorInfo, ErrorKind, Event, EventReceiver, Filter, Flow, Guard, GuardPolicy, Kind, Labels,
    Meta, Origin, ParamValue, Params, Payload, Phase, ReadOnly, ResetScope, Result, RollbackReason,
    Ruling, StatementClass, Subscriber, Subscription, SubscriptionId, SubscriptionStats, Tap,
    Verdict,
};

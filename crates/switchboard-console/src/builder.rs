//! [`ConsoleBuilder`]: what a console watches and how it serves it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use switchboard::Switchboard;
use switchboard_audit::{AuditLog, AuditMonitor};
use switchboard_observe::Metrics;
use switchboard_observe::exporter::DURATION_BUCKETS;
use switchboard_rules::RuleEngine;

use crate::activity::PoolActivity;
use crate::audit::WatchedAudit;
use crate::config::ConsoleConfig;
use crate::console::{Console, ConsoleService};
use crate::error::{Error, Result};
use crate::feed::Feed;
use crate::feed::hub::{Hub, Limits};
use crate::state::{Prometheus, State, Watched, WatchedRules};
use crate::token::Token;

/// Numbers consoles in this process, to name their subscriptions apart.
static NEXT_CONSOLE: AtomicU64 = AtomicU64::new(1);

/// Configures a console: `Console::builder().listen(..).watch(&pool).start()`.
#[derive(Debug, Default)]
#[must_use]
pub struct ConsoleBuilder {
    config: ConsoleConfig,
    pools: Vec<Switchboard>,
    rules: Vec<(RuleEngine, Option<PathBuf>)>,
    audits: Vec<AuditMonitor>,
    /// Problems found while configuring (a bad token), reported by
    /// `build`/`start`, so the builder chains without `?` at each step.
    problems: Vec<String>,
}

impl ConsoleBuilder {
    /// Replaces the whole configuration (pools and rules stay).
    pub fn config(mut self, config: ConsoleConfig) -> Self {
        self.config = config;
        self
    }

    /// `HOST:PORT` to listen on (default `127.0.0.1:9100`; port 0 for any
    /// free port).
    pub fn listen(mut self, addr: impl Into<String>) -> Self {
        self.config.listen = addr.into();
        self
    }

    /// Requires `Authorization: Bearer <token>` on every data request; see
    /// [`ConsoleConfig::token`]. At least 16 visible ASCII characters.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        match Token::new(token) {
            Ok(t) => self.config.token = Some(t),
            Err(e) => self.problems.push(format!("token: {e}")),
        }
        self
    }

    /// Turns actions on, for requests bearing this token; see
    /// [`ConsoleConfig::actions`].
    pub fn actions(mut self, token: impl Into<String>) -> Self {
        match Token::new(token) {
            Ok(t) => self.config.actions = Some(t),
            Err(e) => self.problems.push(format!("actions token: {e}")),
        }
        self
    }

    /// Event stream clients at once (default 8).
    pub fn max_clients(mut self, n: usize) -> Self {
        self.config.max_clients = n;
        self
    }

    /// Entries a client may have waiting before it is dropped (default 1024).
    pub fn client_buffer(mut self, n: usize) -> Self {
        self.config.client_buffer = n;
        self
    }

    /// Entries kept for `Last-Event-ID` resumes (default 4096).
    pub fn ring(mut self, n: usize) -> Self {
        self.config.ring = n;
        self
    }

    /// Frequent events streamed per pool and second at most (default 1000).
    pub fn stream_rate(mut self, per_second: u32) -> Self {
        self.config.stream_rate = per_second;
        self
    }

    /// How far back charts and the slowest statements go (default 5 min).
    pub fn history(mut self, window: Duration) -> Self {
        self.config.history = window;
        self
    }

    /// Idle time after which a stream sends a keep-alive comment (default 15 s).
    pub fn keep_alive(mut self, every: Duration) -> Self {
        self.config.keep_alive = every;
        self
    }

    /// Whether to serve `/metrics` (default true).
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// Shows this pool. Watch several; their names must differ.
    pub fn watch(mut self, pool: &Switchboard) -> Self {
        self.pools.push(pool.clone());
        self
    }

    /// Shows this rules engine, and lets actions switch its read-only mode.
    pub fn rules(mut self, engine: &RuleEngine) -> Self {
        self.rules.push((engine.clone(), None));
        self
    }

    /// [`rules`](Self::rules), and lets actions reload it from `file`.
    pub fn rules_file(mut self, engine: &RuleEngine, file: impl Into<PathBuf>) -> Self {
        self.rules.push((engine.clone(), Some(file.into())));
        self
    }

    /// Shows this audit log: its records, checkpoints and errors, live, and
    /// the outcome of its last verification, run when the console starts
    /// (on a thread of its own) and again on the `verify` action. The
    /// console reads the log through an [`AuditMonitor`]; the log stays
    /// yours to close. Names must differ.
    pub fn audit(mut self, log: &AuditLog) -> Self {
        self.audits.push(log.monitor());
        self
    }

    /// Subscribes to the pools without listening: mount the result in an
    /// actix-web `App` of your own with [`ConsoleService::configure`].
    pub fn build(self) -> Result<ConsoleService> {
        let ConsoleBuilder {
            config,
            pools,
            rules,
            audits,
            problems,
        } = self;
        if let Some(problem) = problems.into_iter().next() {
            return Err(Error::Config(problem));
        }
        config.check().map_err(Error::Config)?;
        check_names(&pools, &rules)?;
        check_audit_names(&audits)?;

        let hub = Arc::new(Hub::new(Limits {
            max_clients: config.max_clients,
            client_buffer: config.client_buffer,
            ring: config.ring,
        }));
        let metrics = config.metrics.then(prometheus);
        let console = NEXT_CONSOLE.fetch_add(1, Ordering::Relaxed);
        let mut watched: Vec<Watched> = Vec::with_capacity(pools.len());
        // (index in `watched` of the bus's first pool, its observer)
        let mut observers: Vec<(usize, switchboard_observe::MetricsHandle)> = Vec::new();
        for pool in &pools {
            let observe = metrics.as_ref().map(|(_, recorder)| {
                Metrics::new()
                    .recorder(recorder.clone())
                    .config(observe_config(console, pool.name()))
            });
            // The feed, which sees every event of the pool anyway, records
            // the metrics too: a subscription of their own would have every
            // event made and read on another CPU.
            let feed = Feed::start(
                pool,
                format!("console#{console}:{}", pool.name()),
                config.feed_capacity,
                config.stream_rate,
                hub.clone(),
                PoolActivity::new(config.history),
                metrics
                    .as_ref()
                    .zip(observe.as_ref())
                    .map(|((handle, _), observe)| (handle.clone(), observe.tap())),
            )?;
            if let Some(observe) = observe {
                // One sampler (gauges, bus drops) per bus: pools sharing a
                // bus share it.
                let shared = observers
                    .iter()
                    .find(|(first, _)| watched[*first].feed.shares_bus_with(pool));
                match shared {
                    Some((_, observer)) => observer.watch(pool),
                    None => {
                        let observer = observe
                            .sample_only(pool.bus())
                            .map_err(|e| Error::Subscribe(e.to_string()))?;
                        observer.watch(pool);
                        observers.push((watched.len(), observer));
                    }
                }
            }
            watched.push(Watched {
                pool: pool.clone(),
                name: Arc::from(pool.name()),
                feed,
            });
        }
        let names = watched.iter().map(|w| w.name.clone()).collect();
        let metrics = metrics.map(|(handle, recorder)| Prometheus {
            handle,
            recorder,
            _observers: observers.into_iter().map(|(_, o)| o).collect(),
        });
        let rules = rules
            .into_iter()
            .map(|(engine, file)| WatchedRules { engine, file })
            .collect();
        let audits: Vec<Arc<WatchedAudit>> = audits
            .into_iter()
            .map(|m| Arc::new(WatchedAudit::new(m)))
            .collect();
        first_verifications(&audits);
        Ok(ConsoleService::new(State {
            config,
            pools: watched,
            names,
            rules,
            audits,
            hub,
            metrics,
        }))
    }

    /// Builds the console and starts serving it, on a worker thread of
    /// actix-web's, from inside the application's actix System. Fails
    /// with [`Error::Listen`] when the address is taken.
    pub fn start(self) -> Result<Console> {
        let listen = self.config.listen.clone();
        let service = self.build()?;
        Console::serve(service, &listen)
    }
}

fn observe_config(console: u64, pool: &str) -> switchboard_observe::MetricsConfig {
    let mut config = switchboard_observe::MetricsConfig::default();
    config.name = format!("console#{console}:metrics:{pool}");
    config
}

/// The console's own recorder, with Switchboard's histogram buckets.
fn prometheus() -> (
    metrics_exporter_prometheus::PrometheusHandle,
    switchboard_observe::metrics::SharedRecorder,
) {
    let builder = PrometheusBuilder::new();
    // Fixed, valid buckets: this cannot fail (it would only for an empty list).
    let builder = builder
        .set_buckets_for_metric(Matcher::Prefix("switchboard_".into()), &DURATION_BUCKETS)
        .unwrap_or_else(|_| PrometheusBuilder::new());
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    (handle, Arc::new(recorder))
}

/// Verifies each log once, on a thread of its own: reading a large log
/// takes a while, and the console serves meanwhile (its last verification
/// shows as none until this ends).
fn first_verifications(audits: &[Arc<WatchedAudit>]) {
    for audit in audits {
        let audit = audit.clone();
        let started = std::thread::Builder::new()
            .name("sb-console-verify".into())
            .spawn(move || {
                audit.verify();
            });
        if let Err(e) = started {
            tracing::warn!(target: "switchboard::console", error = %e, "could not start a thread to verify an audit log; verify it with the action");
        }
    }
}

fn check_audit_names(audits: &[AuditMonitor]) -> Result<()> {
    for (i, a) in audits.iter().enumerate() {
        if audits[..i].iter().any(|b| b.name() == a.name()) {
            return Err(Error::Config(format!(
                "two watched audit logs are named {:?}; give each its own name (AuditConfig::name)",
                a.name()
            )));
        }
    }
    Ok(())
}

fn check_names(pools: &[Switchboard], rules: &[(RuleEngine, Option<PathBuf>)]) -> Result<()> {
    if pools.is_empty() {
        return Err(Error::Config(
            "the console watches no pool; add one with watch(&switchboard)".into(),
        ));
    }
    for (i, p) in pools.iter().enumerate() {
        if pools[..i].iter().any(|q| q.name() == p.name()) {
            return Err(Error::Config(format!(
                "two watched pools are named {:?}; give each pool its own name (Builder::name)",
                p.name()
            )));
        }
    }
    for (i, (r, _)) in rules.iter().enumerate() {
        if rules[..i].iter().any(|(q, _)| q.name() == r.name()) {
            return Err(Error::Config(format!(
                "two watched rules engines are named {:?}; give each file its own `name`",
                r.name()
            )));
        }
    }
    Ok(())
}

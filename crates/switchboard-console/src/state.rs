//! [`State`]: what every handler shares: the watched pools and rules
//! engines, the stream's hub and the metrics.

use std::path::PathBuf;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use switchboard::Switchboard;
use switchboard_observe::metrics::SharedRecorder;
use switchboard_observe::{Kept, MetricsHandle};
use switchboard_rules::RuleEngine;

use crate::audit::WatchedAudit;
use crate::config::ConsoleConfig;
use crate::feed::Feed;
use crate::feed::entry::Entry;
use crate::feed::hub::{Hub, StreamStats};

/// One watched pool.
pub(crate) struct Watched {
    pub(crate) pool: Switchboard,
    pub(crate) name: Arc<str>,
    /// Kept for its tap (dropped with the state); holds the pool's
    /// activity, written by the tap for every event, read by the activity
    /// endpoint.
    pub(crate) feed: Feed,
}

/// One rules engine the console may act on.
pub(crate) struct WatchedRules {
    pub(crate) engine: RuleEngine,
    /// Where `reload` reads the rules from; `None`: no reload.
    pub(crate) file: Option<PathBuf>,
}

/// `/metrics`: a recorder of the console's own, fed by
/// `switchboard-observe`'s `Metrics`.
pub(crate) struct Prometheus {
    pub(crate) handle: PrometheusHandle,
    pub(crate) recorder: SharedRecorder,
    /// One per distinct bus; dropping them stops recording.
    pub(crate) _observers: Vec<MetricsHandle>,
}

/// Counters of a console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ConsoleStats {
    /// The event stream's counters.
    #[serde(flatten)]
    pub stream: StreamStats,
    /// Events the console could not stream: its streaming thread fell
    /// behind and its bounded buffer was full (so a busy console never
    /// slows a statement). Every event is still counted on the page.
    pub missed: u64,
}

/// Shared by every handler (and every HTTP worker).
pub(crate) struct State {
    pub(crate) config: ConsoleConfig,
    pub(crate) pools: Vec<Watched>,
    /// The pools' names, in watch order, for filters and messages.
    pub(crate) names: Vec<Arc<str>>,
    pub(crate) rules: Vec<WatchedRules>,
    /// Audit logs shown, in the order given.
    pub(crate) audits: Vec<Arc<WatchedAudit>>,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Option<Prometheus>,
}

impl State {
    pub(crate) fn pool(&self, name: &str) -> Option<&Watched> {
        self.pools.iter().find(|w| &*w.name == name)
    }

    pub(crate) fn audit(&self, name: &str) -> Option<&Arc<WatchedAudit>> {
        self.audits.iter().find(|a| a.monitor.name() == name)
    }

    pub(crate) fn rules(&self, name: &str) -> Option<&WatchedRules> {
        self.rules.iter().find(|r| r.engine.name() == name)
    }

    /// `"a, b"`, for messages naming what exists.
    pub(crate) fn pool_names(&self) -> String {
        self.names
            .iter()
            .map(|n| n.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Puts an action's outcome on the stream.
    pub(crate) fn announce(&self, json: &str) {
        self.hub.publish(|seq| Entry::action(seq, json));
    }

    /// What `/metrics` serves: the recorder's text, then the families the
    /// feeds keep themselves (statement, checkout and held-time histograms
    /// and statement counts). `None` when metrics are off.
    pub(crate) fn render_metrics(&self) -> Option<String> {
        let prometheus = self.metrics.as_ref()?;
        let mut text = prometheus.handle.render();
        let kept: Vec<Kept> = self
            .pools
            .iter()
            .filter_map(|w| w.feed.kept_metrics())
            .collect();
        Kept::render(&kept, &mut text);
        Some(text)
    }

    pub(crate) fn stats(&self) -> ConsoleStats {
        ConsoleStats {
            stream: self.hub.stats(),
            missed: self.pools.iter().map(|w| w.feed.dropped()).sum(),
        }
    }
}

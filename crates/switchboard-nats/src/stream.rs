//! The JetStream stream events are kept in: its settings, and creating it or
//! checking that the one on the server matches them.

use std::time::Duration;

use async_nats::jetstream::{
    self, ErrorCode,
    context::GetStreamErrorKind,
    stream::{Config, RetentionPolicy, StorageType},
};
use serde::{Deserialize, Serialize};

use crate::error::{NatsError, Result};

/// When the server may remove events from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Retention {
    /// Kept until `max_age` (or another limit) removes them; any number of
    /// consumers can read them, and replay them from any point. The default.
    Limits,
    /// Kept while some consumer has not acknowledged them.
    Interest,
    /// Removed once one consumer acknowledged them.
    WorkQueue,
}

/// Where the server stores the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Storage {
    /// On disk: events survive a server restart. The default.
    File,
    /// In memory.
    Memory,
}

/// The stream's settings. Exporters and sources that share a stream must
/// configure the same ones: the first creates it, the others check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct StreamSettings {
    /// The stream's name. Default `SWITCHBOARD`.
    pub name: String,
    /// Subjects it captures. Default `["switchboard.>"]`: every service's
    /// events under the default prefix.
    pub subjects: Vec<String>,
    /// Default [`Retention::Limits`].
    pub retention: Retention,
    /// How long an event is kept; zero keeps it forever. Default 7 days.
    pub max_age: Duration,
    /// How long the server remembers message ids to drop a retried publish.
    /// Must exceed the longest outage an exporter retries through without
    /// restarting. Default 2 minutes (the server's own default).
    pub duplicate_window: Duration,
    /// Default [`Storage::File`].
    pub storage: Storage,
    /// Copies kept in a cluster (1 on a single server). Default 1.
    pub replicas: usize,
}

impl Default for StreamSettings {
    fn default() -> Self {
        StreamSettings {
            name: "SWITCHBOARD".to_owned(),
            subjects: vec!["switchboard.>".to_owned()],
            retention: Retention::Limits,
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(120),
            storage: Storage::File,
            replicas: 1,
        }
    }
}

impl StreamSettings {
    /// The defaults with another stream name and subjects.
    pub fn new(name: impl Into<String>, subjects: impl IntoIterator<Item = String>) -> Self {
        StreamSettings {
            name: name.into(),
            subjects: subjects.into_iter().collect(),
            ..StreamSettings::default()
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.name.is_empty() || self.name.contains(['.', '*', '>', ' ']) {
            return Err(NatsError::Config(format!(
                "stream name {:?} must be non-empty without '.', '*', '>' or spaces",
                self.name
            )));
        }
        if self.subjects.is_empty() {
            return Err(NatsError::Config(
                "a stream needs at least one subject".into(),
            ));
        }
        if self.replicas == 0 {
            return Err(NatsError::Config(
                "stream replicas must be at least 1".into(),
            ));
        }
        Ok(())
    }

    fn to_config(&self) -> Config {
        Config {
            name: self.name.clone(),
            subjects: self.subjects.clone(),
            retention: match self.retention {
                Retention::Limits => RetentionPolicy::Limits,
                Retention::Interest => RetentionPolicy::Interest,
                Retention::WorkQueue => RetentionPolicy::WorkQueue,
            },
            max_age: self.max_age,
            duplicate_window: self.duplicate_window,
            storage: match self.storage {
                Storage::File => StorageType::File,
                Storage::Memory => StorageType::Memory,
            },
            num_replicas: self.replicas,
            ..Config::default()
        }
    }

    /// Creates the stream, or checks that the existing one has these
    /// settings.
    pub(crate) async fn ensure(&self, js: &jetstream::Context) -> Result<()> {
        let failed = |what, e: &dyn std::fmt::Display| NatsError::JetStream {
            what,
            stream: self.name.clone(),
            message: e.to_string(),
        };
        match js.get_stream(&self.name).await {
            Ok(stream) => self.check(&stream.cached_info().config),
            Err(e) if is_not_found(e.kind()) => match js.create_stream(self.to_config()).await {
                Ok(_) => {
                    tracing::info!(stream = %self.name, subjects = ?self.subjects, "created JetStream stream");
                    Ok(())
                }
                // Another exporter may have created it meanwhile: check that one.
                Err(create) => match js.get_stream(&self.name).await {
                    Ok(stream) => self.check(&stream.cached_info().config),
                    Err(_) => Err(failed("create stream", &create)),
                },
            },
            Err(e) => Err(failed("get stream", &e)),
        }
    }

    fn check(&self, found: &Config) -> Result<()> {
        let wanted = self.to_config();
        let mismatch = |what, found: String, configured: String| NatsError::StreamMismatch {
            stream: self.name.clone(),
            what,
            found,
            configured,
        };
        if let Some(missing) = wanted.subjects.iter().find(|s| !found.subjects.contains(s)) {
            return Err(mismatch(
                "subjects",
                format!("{:?}", found.subjects),
                format!("{missing:?}"),
            ));
        }
        if found.retention != wanted.retention {
            return Err(mismatch(
                "retention",
                format!("{:?}", found.retention),
                format!("{:?}", wanted.retention),
            ));
        }
        if found.storage != wanted.storage {
            return Err(mismatch(
                "storage",
                format!("{:?}", found.storage),
                format!("{:?}", wanted.storage),
            ));
        }
        if found.max_age != wanted.max_age {
            return Err(mismatch(
                "max_age",
                format!("{:?}", found.max_age),
                format!("{:?}", wanted.max_age),
            ));
        }
        if found.duplicate_window != wanted.duplicate_window {
            return Err(mismatch(
                "duplicate_window",
                format!("{:?}", found.duplicate_window),
                format!("{:?}", wanted.duplicate_window),
            ));
        }
        Ok(())
    }
}

fn is_not_found(kind: GetStreamErrorKind) -> bool {
    matches!(kind, GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_nats_refuses_are_config_errors() {
        for name in ["", "a.b", "a*", "a b"] {
            let s = StreamSettings::new(name, ["x.>".to_owned()]);
            assert!(
                matches!(s.validate(), Err(NatsError::Config(_))),
                "{name:?}"
            );
        }
        assert!(StreamSettings::default().validate().is_ok());
    }

    #[test]
    fn a_stream_missing_a_subject_or_with_another_retention_does_not_match() {
        let s = StreamSettings::default();
        let mut other = s.to_config();
        other.subjects = vec!["other.>".into()];
        assert!(matches!(
            s.check(&other),
            Err(NatsError::StreamMismatch {
                what: "subjects",
                ..
            })
        ));
        let mut other = s.to_config();
        other.subjects.push("more.>".into());
        assert!(s.check(&other).is_ok(), "extra subjects are fine");
        other.retention = RetentionPolicy::WorkQueue;
        assert!(matches!(
            s.check(&other),
            Err(NatsError::StreamMismatch {
                what: "retention",
                ..
            })
        ));
    }
}

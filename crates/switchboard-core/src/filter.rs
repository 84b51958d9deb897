//! Which events a subscription receives.

use std::sync::Arc;

use crate::event::{ConnectionId, Event, Kind, Meta};

/// Selects events by kind, pool and connection. The default selects all.
///
/// Filters are checked by the publisher before an event is queued, so a
/// subscription never pays for events it did not ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    kinds: u32,
    pool: Option<Arc<str>>,
    connection: Option<ConnectionId>,
}

impl Default for Filter {
    fn default() -> Self {
        Filter::all()
    }
}

impl Filter {
    /// Every event.
    pub fn all() -> Self {
        Filter {
            kinds: u32::MAX,
            pool: None,
            connection: None,
        }
    }

    /// Only events of these kinds (`Lagged` notices always pass).
    pub fn kinds(kinds: impl IntoIterator<Item = Kind>) -> Self {
        Filter {
            kinds: kinds
                .into_iter()
                .fold(Kind::Lagged.bit(), |acc, k| acc | k.bit()),
            ..Filter::all()
        }
    }

    /// Only events of this pool.
    #[must_use]
    pub fn pool(mut self, pool: impl Into<Arc<str>>) -> Self {
        self.pool = Some(pool.into());
        self
    }

    /// Only events of this connection.
    #[must_use]
    pub fn connection(mut self, connection: ConnectionId) -> Self {
        self.connection = Some(connection);
        self
    }

    /// Whether the filter selects events of this kind at all.
    pub fn wants_kind(&self, kind: Kind) -> bool {
        self.kinds & kind.bit() != 0
    }

    /// The kinds the filter takes, one bit each.
    pub(crate) fn kind_bits(&self) -> u32 {
        self.kinds
    }

    /// Whether the filter takes events of `pool` (of some kinds).
    pub(crate) fn takes_pool(&self, pool: &str) -> bool {
        self.pool.as_deref().is_none_or(|p| p == pool)
    }

    /// Whether the filter takes events of `connection` (their kind and
    /// pool aside).
    pub(crate) fn takes(&self, connection: Option<ConnectionId>) -> bool {
        self.connection.is_none_or(|c| connection == Some(c))
    }

    /// Whether the filter takes an event of `kind` and `connection`, its
    /// pool known to be taken ([`takes_pool`](Self::takes_pool)).
    pub(crate) fn takes_in_pool(&self, kind: Kind, connection: Option<ConnectionId>) -> bool {
        self.wants_kind(kind) && self.takes(connection)
    }

    /// Whether the filter selects this event.
    pub fn matches(&self, event: &Event) -> bool {
        self.takes_parts(event.meta(), event.kind())
    }

    /// Whether the filter selects an event of `kind` with `meta` (as a
    /// [`Tap`](crate::Tap) is handed it).
    pub fn takes_parts(&self, meta: &Meta, kind: Kind) -> bool {
        self.takes_pool(&meta.pool) && self.takes_in_pool(kind, meta.connection)
    }
}

impl From<Kind> for Filter {
    fn from(kind: Kind) -> Self {
        Filter::kinds([kind])
    }
}

impl<const N: usize> From<[Kind; N]> for Filter {
    fn from(kinds: [Kind; N]) -> Self {
        Filter::kinds(kinds)
    }
}

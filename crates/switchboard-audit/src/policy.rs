//! The configuration compiled into the questions asked per event: is it
//! audited, how durably, and does its statement wait for the disk. The gate
//! and the writer ask the same [`Policy`], so they agree on which statements
//! are held.

use switchboard_core::{Event, Filter, Kind, Payload, StatementClass};

use crate::config::{AuditConfig, Durability, PerClass};

/// Kinds the writer must see even when they are not audited: the
/// `Executing` that gives a statement its class, the outcomes that end it,
/// and `Closed`, which ends whatever its connection left open.
const TRACKED: [Kind; 5] = [
    Kind::Executing,
    Kind::Executed,
    Kind::ExecuteFailed,
    Kind::Denied,
    Kind::Closed,
];

#[derive(Debug, Clone)]
pub(crate) struct Policy {
    kinds: Vec<Kind>,
    classes: [bool; 5],
    durability: PerClass<Durability>,
}

fn class_index(class: StatementClass) -> usize {
    StatementClass::ALL
        .iter()
        .position(|c| *c == class)
        .unwrap_or(StatementClass::ALL.len() - 1)
}

impl Policy {
    pub(crate) fn new(config: &AuditConfig) -> Self {
        let mut classes = [false; 5];
        for class in &config.classes {
            classes[class_index(*class)] = true;
        }
        Policy {
            kinds: config.kinds.clone(),
            classes,
            durability: config.durability,
        }
    }

    /// What the log subscribes to.
    pub(crate) fn filter(&self) -> Filter {
        Filter::kinds(self.kinds.iter().copied().chain(TRACKED))
    }

    pub(crate) fn audits_kind(&self, kind: Kind) -> bool {
        self.kinds.contains(&kind)
    }

    /// Whether records of statements of `class` (or of no statement, for
    /// `None`) are written.
    pub(crate) fn audits_class(&self, class: Option<StatementClass>) -> bool {
        class.is_none_or(|c| self.classes[class_index(c)])
    }

    pub(crate) fn durability(&self, class: Option<StatementClass>) -> Durability {
        self.durability.get(class)
    }

    /// Whether the statement this `Executing` event begins waits until its
    /// record is durable. The gate answers the connection with this, and the
    /// writer forces an fsync for the same events.
    pub(crate) fn holds(&self, event: &Event) -> bool {
        match event.payload() {
            Payload::Executing { class, .. } => {
                self.audits_kind(Kind::Executing)
                    && self.audits_class(Some(*class))
                    && self.durability(Some(*class)).is_strict()
            }
            _ => false,
        }
    }

    /// Whether any class is strict, so a gate is worth adding.
    pub(crate) fn any_strict(&self) -> bool {
        self.audits_kind(Kind::Executing)
            && StatementClass::ALL
                .iter()
                .any(|c| self.audits_class(Some(*c)) && self.durability(Some(*c)).is_strict())
    }
}

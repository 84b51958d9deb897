//! Asking a pool's guards in order and combining what they said into one
//! [`Decision`].

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Duration;

use actix::Recipient;

use super::{Check, Guard, GuardPolicy, Permit, Ruling, Subject, Verdict};
use crate::class::Classified;

/// The guard may answer `Rewrite`.
enum Target {
    Inline(Arc<dyn Guard>),
    Actor(Recipient<Check>),
}

struct Entry {
    name: Arc<str>,
    target: Target,
    policy: GuardPolicy,
}

/// The guards of one pool, in the order they are asked. Cheap to clone.
#[derive(Clone, Default)]
pub struct Guards(Arc<Vec<Entry>>);

impl fmt::Debug for Guards {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|e| &e.name))
            .finish()
    }
}

/// A guard's denial, or its failure when it fails closed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Denial {
    /// The guard's name.
    pub guard: Arc<str>,
    /// Why.
    pub reason: String,
}

/// A rewrite a guard applied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rewrite {
    /// The guard's name.
    pub guard: Arc<str>,
    /// Why.
    pub reason: String,
    /// The SQL that replaces the statement's.
    pub sql: Arc<str>,
}

/// What a guard's shadowed rules would have denied.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shadowed {
    /// The guard's name.
    pub guard: Arc<str>,
    /// What it would have said.
    pub reason: String,
}

/// What the guards decided together.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct Decision {
    /// Set when a guard denied (or failed closed).
    pub denied: Option<Denial>,
    /// Rewrites applied, in order.
    pub rewrites: Vec<Rewrite>,
    /// What shadowed rules would have denied.
    pub shadow: Vec<Shadowed>,
    /// Held until the statement ends.
    pub permits: Vec<Permit>,
    /// The classification of the last rewrite's SQL (made once, for the
    /// guards after it; the statement needs it too).
    pub rewritten: Option<Classified>,
}

impl Decision {
    /// The SQL to run when a guard rewrote it.
    pub fn sql(&self) -> Option<&Arc<str>> {
        self.rewrites.last().map(|r| &r.sql)
    }
}

impl Guards {
    /// No guards.
    pub fn new() -> Self {
        Guards::default()
    }

    /// Whether there are none (then nothing is checked, at no cost).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// These guards, then an inline one.
    #[must_use]
    pub fn inline(self, guard: impl Guard, policy: GuardPolicy) -> Self {
        let name = Arc::from(guard.name());
        self.push(Entry {
            name,
            target: Target::Inline(Arc::new(guard)),
            policy,
        })
    }

    /// These guards, then an actor asked by message.
    #[must_use]
    pub fn actor(
        self,
        name: impl Into<Arc<str>>,
        recipient: Recipient<Check>,
        policy: GuardPolicy,
    ) -> Self {
        self.push(Entry {
            name: name.into(),
            target: Target::Actor(recipient),
            policy,
        })
    }

    fn push(self, entry: Entry) -> Self {
        let mut entries = Arc::try_unwrap(self.0).unwrap_or_else(|shared| {
            shared
                .iter()
                .map(|e| Entry {
                    name: e.name.clone(),
                    target: match &e.target {
                        Target::Inline(g) => Target::Inline(g.clone()),
                        Target::Actor(r) => Target::Actor(r.clone()),
                    },
                    policy: e.policy,
                })
                .collect()
        });
        entries.push(entry);
        Guards(Arc::new(entries))
    }

    /// Asks every guard in order. After a rewrite, later guards see the new
    /// SQL, classified by `reclassify`. The first denial (or failure of a
    /// guard that fails closed) ends the round.
    pub async fn decide(
        &self,
        mut check: Check,
        reclassify: impl Fn(&str) -> Classified,
    ) -> Decision {
        let mut decision = Decision::default();
        for entry in self.0.iter() {
            let ruling = match ask(entry, &check).await {
                Ok(ruling) => ruling,
                Err(failure) => {
                    if entry.policy.fail_open {
                        tracing::warn!(
                            guard = %entry.name, pool = %check.pool, %failure,
                            "guard failed; it fails open, so the work goes ahead"
                        );
                        continue;
                    }
                    decision.denied = Some(Denial {
                        guard: entry.name.clone(),
                        reason: format!("{failure}; it fails closed"),
                    });
                    return decision;
                }
            };
            decision.permits.extend(ruling.permit);
            decision
                .shadow
                .extend(ruling.shadow.into_iter().map(|reason| Shadowed {
                    guard: entry.name.clone(),
                    reason,
                }));
            match ruling.verdict {
                Verdict::Allow => {}
                Verdict::Deny { reason } => {
                    decision.denied = Some(Denial {
                        guard: entry.name.clone(),
                        reason,
                    });
                    return decision;
                }
                Verdict::Rewrite { sql, reason } => {
                    let refusal = match &mut check.subject {
                        _ if !entry.policy.may_rewrite => {
                            Some("answered Rewrite but is not allowed to rewrite")
                        }
                        Subject::Connect { .. } => Some("answered Rewrite to a connect"),
                        Subject::Statement(statement) => {
                            let sql: Arc<str> = sql.into();
                            statement.classified = reclassify(&sql);
                            decision.rewritten = Some(statement.classified.clone());
                            statement.sql = sql.clone();
                            decision.rewrites.push(Rewrite {
                                guard: entry.name.clone(),
                                reason,
                                sql,
                            });
                            None
                        }
                    };
                    if let Some(refusal) = refusal {
                        if entry.policy.fail_open {
                            tracing::warn!(guard = %entry.name, refusal, "guard ignored; it fails open");
                        } else {
                            decision.denied = Some(Denial {
                                guard: entry.name.clone(),
                                reason: format!("guard {refusal}; it fails closed"),
                            });
                            return decision;
                        }
                    }
                }
            }
        }
        decision
    }
}

/// Why a guard gave no usable answer.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("guard panicked: {0}")]
    Panicked(String),
    #[error("guard did not answer within {}ms", .0.as_millis())]
    TimedOut(Duration),
    #[error("guard is gone (its actor stopped)")]
    Gone,
}

async fn ask(entry: &Entry, check: &Check) -> Result<Ruling, Failure> {
    match &entry.target {
        Target::Inline(guard) => catch_unwind(AssertUnwindSafe(|| guard.check(check)))
            .map_err(|panic| Failure::Panicked(crate::error::panic_message(&*panic))),
        Target::Actor(recipient) => {
            let deadline = entry.policy.deadline;
            match tokio::time::timeout(deadline, recipient.send(check.clone())).await {
                Ok(Ok(ruling)) => Ok(ruling),
                Ok(Err(_)) => Err(Failure::Gone),
                Err(_) => Err(Failure::TimedOut(deadline)),
            }
        }
    }
}

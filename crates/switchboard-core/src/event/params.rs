//! Bind parameters as events show them.

use std::borrow::Cow;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// One bind parameter as shown in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParamValue {
    /// The value is hidden (the default); only its SQL type is shown.
    Redacted {
        /// The diesel SQL type the value was bound as. Borrowed from the
        /// type's name where it can be (no allocation per bind).
        sql_type: Cow<'static, str>,
    },
    /// The value, rendered with `Debug`, shown because the pool allows it.
    Plain {
        /// The diesel SQL type the value was bound as.
        sql_type: Cow<'static, str>,
        /// The rendered value.
        value: String,
    },
}

/// A statement's bind parameters as shown in events. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub Arc<[ParamValue]>);

impl Params {
    /// No parameters. Shared, not allocated: every `Load` statement's
    /// `Executing` carries these.
    pub fn none() -> Self {
        thread_local! {
            static NONE: Params = Params(Arc::from(Vec::new()));
        }
        NONE.with(Params::clone)
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

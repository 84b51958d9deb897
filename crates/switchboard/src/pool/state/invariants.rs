//! The bookkeeping's own consistency, checked by the tests after every
//! step.

use super::{PoolState, Use};

impl PoolState {
    /// Checks the bookkeeping's own consistency; for tests.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let idle_marked = self.open.values().filter(|o| o.state == Use::Idle).count();
        if idle_marked != self.idle.len() {
            return Err(format!(
                "{idle_marked} connections marked idle, {} in the idle set",
                self.idle.len()
            ));
        }
        for (conn, _) in &self.idle {
            if self.open.get(conn).map(|o| o.state) != Some(Use::Idle) {
                return Err(format!(
                    "idle set holds {conn}, not an idle open connection"
                ));
            }
            if self.idle.iter().filter(|(c, _)| c == conn).count() != 1 {
                return Err(format!("{conn} is in the idle set twice"));
            }
        }
        for (conn, open) in &self.open {
            if let Use::Pipelined { statements: n, .. } = open.state
                && (n == 0 || n > self.limits.pipeline)
            {
                return Err(format!("{conn} carries {n} pipelined statements"));
            }
            if self.connecting.contains_key(conn) {
                return Err(format!("{conn} is both open and connecting"));
            }
        }
        if self.size() > self.limits.max.max(self.limits.min) {
            return Err(format!(
                "{} open + {} connecting > max {}",
                self.open.len(),
                self.connecting.len(),
                self.limits.max
            ));
        }
        if self.draining && !self.waiters.is_empty() {
            return Err("callers queued during a drain".into());
        }
        Ok(())
    }
}

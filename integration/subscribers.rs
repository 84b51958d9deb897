//! The subscriber contract: a subscriber attached through the builder sees
//! the pool's first connects and lasts as long as the pool; one attached
//! through the handle lasts as long as its `Subscription`; an audit log's
//! lasts until the log is closed, whatever becomes of the handle.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard::{
    Bus, Delivery, Error, Event, Execute, Filter, Kind, Subscriber, Subscription, Switchboard,
};
use switchboard_audit::AuditLog;
use switchboard_core::testing::eventually;

use crate::support::run_local;

/// Records the kinds it receives, losslessly.
#[derive(Clone, Default)]
struct Kinds(Arc<Mutex<Vec<Kind>>>);

impl Kinds {
    fn seen(&self) -> Vec<Kind> {
        self.0.lock().clone()
    }

    fn count(&self, kind: Kind) -> usize {
        self.0.lock().iter().filter(|k| **k == kind).count()
    }
}

impl Subscriber for Kinds {
    type Error = Error;

    fn attach(self, bus: &Bus) -> Result<Subscription, Error> {
        let id = bus.subscribe_fn("kinds", Filter::all(), Delivery::lossless(1024), {
            move |e: Event| self.0.lock().push(e.kind())
        })?;
        Ok(Subscription::new(bus, id))
    }
}

/// A subscriber that cannot attach.
struct Refuses;

impl Subscriber for Refuses {
    type Error = std::io::Error;

    fn attach(self, _: &Bus) -> Result<Subscription, std::io::Error> {
        Err(std::io::Error::other("no threads left"))
    }
}

#[test]
fn a_subscriber_attached_by_the_builder_sees_the_first_connects_and_ends_with_the_pool() {
    run_local(async {
        let kinds = Kinds::default();
        let sb = Switchboard::builder("sqlite::memory:")
            .name("builder_attach")
            .attach(kinds.clone())
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        assert_eq!(sb.bus().stats().len(), 1, "the pool keeps it");
        sb.shutdown().await.unwrap();
        eventually(|| sb.bus().stats().is_empty(), Duration::from_secs(10)).await;
        let seen = kinds.seen();
        assert_eq!(
            seen[..3],
            [Kind::PoolStarted, Kind::Connecting, Kind::Connected],
            "{seen:?}"
        );
        assert_eq!(kinds.count(Kind::Executed), 1, "{seen:?}");
        assert_eq!(seen.last(), Some(&Kind::PoolStopped), "{seen:?}");
    });
}

#[test]
fn a_subscriber_that_cannot_attach_fails_start_saying_why() {
    run_local(async {
        let err = Switchboard::builder("sqlite::memory:")
            .attach(Refuses)
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("no threads left")),
            "{err:?}"
        );
    });
}

#[test]
fn a_subscription_from_the_handle_lasts_as_long_as_it_is_held() {
    run_local(async {
        let sb = Switchboard::builder("sqlite::memory:")
            .name("handle_attach")
            .start()
            .await
            .unwrap();
        let kinds = Kinds::default();
        let subscription = sb.attach(kinds.clone()).unwrap();
        assert!(subscription.ends_on_drop());
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(kinds.count(Kind::Executed), 1);
        assert_eq!(subscription.stats().unwrap().dropped, 0);

        drop(subscription);
        assert!(
            sb.bus().stats().is_empty(),
            "the subscription outlived its handle"
        );
        sb.run(Execute::sql("SELECT 2")).await.unwrap();
        assert_eq!(kinds.count(Kind::Executed), 1, "events after the drop");
        sb.shutdown().await.unwrap();
    });
}

/// An audit log's handle may be dropped at once (`let _ =`): auditing goes
/// on until the log is closed.
#[test]
fn an_audit_log_keeps_auditing_after_its_handle_is_dropped() {
    run_local(async {
        let dir = std::env::temp_dir().join(format!("sb-subscribers-audit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let audit = AuditLog::builder(&dir).open().unwrap();
        let sb = Switchboard::builder("sqlite::memory:")
            .name("audit_dropped_handle")
            .start()
            .await
            .unwrap();
        let handle = sb.attach(&audit).unwrap();
        assert!(!handle.ends_on_drop());
        drop(handle);
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        audit.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            audit.stats().records,
            2,
            "Executing and Executed are audited"
        );
        assert_eq!(sb.bus().stats().len(), 1);

        audit.close(Duration::from_secs(5)).await.unwrap();
        assert!(sb.bus().stats().is_empty(), "close ends the subscription");
        sb.shutdown().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    });
}

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::bus::{Delivery, Gate};
use crate::emitter::Emitter;
use crate::event::{Backend, Event, Payload};
use crate::filter::Filter;

/// A subscription counting the times its `on_end` ran.
fn subscription(bus: &Bus) -> (Subscription, Arc<AtomicU32>) {
    let ended = Arc::new(AtomicU32::new(0));
    let id = bus
        .subscribe_fn("test", Filter::all(), Delivery::lossy(8), |_| ())
        .unwrap();
    let count = ended.clone();
    let sub = Subscription::new(bus, id).on_end(move || {
        count.fetch_add(1, Ordering::SeqCst);
    });
    (sub, ended)
}

#[test]
fn dropping_a_subscription_ends_it_and_what_it_tied_to_it_once() {
    let bus = Bus::new();
    let (sub, ended) = subscription(&bus);
    let id = sub.id();
    assert!(sub.ends_on_drop());
    assert!(sub.stats().is_some());
    drop(sub);
    assert!(bus.subscription_stats(id).is_none());
    assert_eq!(ended.load(Ordering::SeqCst), 1);
}

#[test]
fn a_kept_subscription_outlives_its_handle_until_detached() {
    let bus = Bus::new();
    let (sub, ended) = subscription(&bus);
    let id = sub.id();
    let kept = sub.kept();
    assert!(!kept.ends_on_drop());
    drop(kept);
    assert!(bus.subscription_stats(id).is_some(), "ended on drop");
    assert_eq!(ended.load(Ordering::SeqCst), 0);

    let (sub, ended) = subscription(&bus);
    let id = sub.id();
    sub.kept().detach();
    assert!(bus.subscription_stats(id).is_none(), "detach left it");
    assert_eq!(ended.load(Ordering::SeqCst), 1);
}

#[test]
fn detaching_ends_it_once_though_the_handle_is_dropped_after() {
    let bus = Bus::new();
    let (sub, ended) = subscription(&bus);
    let id = sub.id();
    sub.detach();
    assert!(bus.subscription_stats(id).is_none());
    assert_eq!(ended.load(Ordering::SeqCst), 1);
}

#[test]
fn a_subscription_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Subscription>();
}

/// A gate that holds every statement and lets none pass.
struct Closed;

impl Gate for Closed {
    fn name(&self) -> &str {
        "closed"
    }
    fn holds(&self, _: &Event) -> bool {
        true
    }
    fn pass(
        &self,
        _: &Event,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = crate::Result<()>> + Send + 'static>>
    {
        Box::pin(async {
            Err(crate::Error::NotDurable {
                gate: "closed".into(),
                reason: "test".into(),
            })
        })
    }
}

/// Whether a statement on `bus` would be held back by a gate.
fn gated(bus: &Bus) -> bool {
    let event = Emitter::new(bus.clone(), Arc::from("test"), Backend::Sqlite, 1).publish(
        Payload::CheckedIn {
            held: std::time::Duration::ZERO,
        },
    );
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(bus.pass_gates(&event))
        .is_err()
}

fn owned_subscription(bus: &Bus, owner: &OwnedSubscriptions, gate: &Arc<dyn Gate>) -> Subscription {
    let id = bus
        .subscribe_fn("owned", Filter::all(), Delivery::lossless(8), |_| ())
        .unwrap();
    owner.hold(bus, id, Some(gate.clone()))
}

#[test]
fn an_owned_subscription_survives_its_dropped_handle_until_its_owner_ends_it() {
    let bus = Bus::new();
    let owner = OwnedSubscriptions::new();
    let gate: Arc<dyn Gate> = Arc::new(Closed);
    let sub = owned_subscription(&bus, &owner, &gate);
    let id = sub.id();
    assert!(!sub.ends_on_drop());
    assert!(gated(&bus));
    drop(sub);
    assert!(
        bus.subscription_stats(id).is_some(),
        "ended with its handle"
    );
    assert!(gated(&bus), "the gate went with the handle");

    owner.end_all();
    assert!(bus.subscription_stats(id).is_none());
    assert!(!gated(&bus));
    assert!(owner.is_empty());
}

#[test]
fn detaching_an_owned_subscription_removes_only_its_own_gate() {
    let bus = Bus::new();
    let owner = OwnedSubscriptions::new();
    let gate: Arc<dyn Gate> = Arc::new(Closed);
    // The same owner attached twice to one bus: two subscriptions, the
    // gate added twice.
    let first = owned_subscription(&bus, &owner, &gate);
    let second = owned_subscription(&bus, &owner, &gate);
    let (first_id, second_id) = (first.id(), second.id());
    first.detach();
    assert!(bus.subscription_stats(first_id).is_none());
    assert!(gated(&bus), "the second subscription lost its gate");
    assert_eq!(owner.buses().len(), 1);

    // Ending the rest removes the second copy, and no more.
    owner.end_all();
    assert!(bus.subscription_stats(second_id).is_none());
    assert!(!gated(&bus));
    drop(second);
}

#[test]
fn detaching_on_one_bus_leaves_the_same_id_on_another_alone() {
    let (first, second) = (Bus::new(), Bus::new());
    let owner = OwnedSubscriptions::new();
    let gate: Arc<dyn Gate> = Arc::new(Closed);
    let on_first = owned_subscription(&first, &owner, &gate);
    let on_second = owned_subscription(&second, &owner, &gate);
    // Ids are numbered per bus: both are the first.
    assert_eq!(on_first.id(), on_second.id());
    let id = on_first.id();
    on_second.detach();
    assert!(second.subscription_stats(id).is_none());
    assert!(!gated(&second), "the second bus kept its gate");
    assert!(
        first.subscription_stats(id).is_some(),
        "the first bus lost it"
    );
    assert!(gated(&first), "the first bus lost its gate");
    assert_eq!(owner.buses().len(), 1);
    assert!(owner.buses()[0].is(&first));
    drop(on_first);
}

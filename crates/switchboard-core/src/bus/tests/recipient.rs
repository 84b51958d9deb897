//! Actor subscribers behind a `Recipient`: a pump on the subscribing
//! arbiter sends each event and waits for the handler.

use actix::{Actor, ActorContext, Context, Handler};

use super::*;
use crate::bus::queue::PumpState;

/// Notes each event's sequence number; stops itself on `stop_at`.
struct Noter {
    seen: Arc<parking_lot::Mutex<Vec<u64>>>,
    stop_at: u64,
}

impl Actor for Noter {
    type Context = Context<Self>;
}

impl Handler<Event> for Noter {
    type Result = ();
    fn handle(&mut self, event: Event, ctx: &mut Context<Self>) {
        self.seen.lock().push(event.meta().seq);
        if event.meta().seq == self.stop_at {
            ctx.stop();
        }
    }
}

#[actix::test]
async fn a_waiting_pump_is_woken_by_each_next_event() {
    let bus = Bus::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let noter = Noter {
        seen: seen.clone(),
        stop_at: 0,
    };
    let id = bus.subscribe(
        "noter",
        noter.start().recipient(),
        Filter::all(),
        Delivery::lossless(16),
    );
    let sub = subscription(&bus, id);
    let em = emitter(&bus);
    for seq in 1..=20 {
        em.emit(checked_in());
        bus.flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(seen.lock().last(), Some(&seq));
        // Acknowledged, and its pump looked again and sleeps: only the
        // next event's push can wake it.
        assert_eq!(sub.queue.pump_state(), PumpState::Waiting);
    }
}

#[actix::test]
async fn an_actor_that_stopped_ends_its_subscription() {
    let bus = Bus::new();
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let noter = Noter {
        seen: seen.clone(),
        stop_at: 2,
    };
    bus.subscribe(
        "noter",
        noter.start().recipient(),
        Filter::all(),
        Delivery::lossless(16),
    );
    let em = emitter(&bus);
    for _ in 1..=3 {
        em.emit(checked_in());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !bus.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "still subscribed");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(*seen.lock(), vec![1, 2]);
}

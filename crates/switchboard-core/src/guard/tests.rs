use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::prelude::*;

use super::*;
use crate::class::{Classification, ParseError};

fn classified(class: StatementClass) -> Classified {
    Arc::new(Ok(Classification {
        class,
        operation: "SELECT".into(),
        tables: vec![],
        missing_where: false,
        statements: 1,
        placeholders: 0,
    }))
}

fn check(sql: &str) -> Check {
    Check::statement(
        "p".into(),
        Backend::Sqlite,
        1,
        Labels::new(),
        Statement::new(
            7,
            sql.into(),
            Origin::Execute,
            classified(StatementClass::Read),
        ),
    )
}

fn unparsed(_: &str) -> Classified {
    Arc::new(Err(ParseError::empty()))
}

struct Fixed(&'static str, fn(&Check) -> Ruling);

impl Guard for Fixed {
    fn name(&self) -> &str {
        self.0
    }
    fn check(&self, check: &Check) -> Ruling {
        (self.1)(check)
    }
}

#[actix::test]
async fn no_guards_allow() {
    let d = Guards::new().decide(check("SELECT 1"), unparsed).await;
    assert!(d.denied.is_none() && d.rewrites.is_empty() && d.shadow.is_empty());
}

#[actix::test]
async fn first_deny_wins_and_later_guards_are_not_asked() {
    let asked = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl Guard for Count {
        fn name(&self) -> &str {
            "count"
        }
        fn check(&self, _: &Check) -> Ruling {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ruling::allow()
        }
    }
    let guards = Guards::new()
        .inline(Count(asked.clone()), GuardPolicy::default())
        .inline(Fixed("a", |_| Ruling::deny("no a")), GuardPolicy::default())
        .inline(Fixed("b", |_| Ruling::deny("no b")), GuardPolicy::default())
        .inline(Count(asked.clone()), GuardPolicy::default());
    let d = guards.decide(check("SELECT 1"), unparsed).await;
    assert_eq!(
        d.denied,
        Some(Denial {
            guard: "a".into(),
            reason: "no a".into()
        })
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
}

#[actix::test]
async fn inline_panic_fails_closed_unless_fail_open() {
    let panicking = || Fixed("boom", |_| panic!("rule bug"));
    let d = Guards::new()
        .inline(panicking(), GuardPolicy::default())
        .decide(check("SELECT 1"), unparsed)
        .await;
    let Denial { guard, reason } = d.denied.expect("fails closed");
    assert_eq!(&*guard, "boom");
    assert!(reason.contains("panicked: rule bug"), "{reason}");

    let d = Guards::new()
        .inline(panicking(), GuardPolicy::default().fail_open())
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(d.denied.is_none());
}

#[actix::test]
async fn rewrite_needs_permission_and_is_seen_by_later_guards() {
    let rewrite = || Fixed("rw", |_| Ruling::rewrite("SELECT 2", "pin it"));
    let d = Guards::new()
        .inline(rewrite(), GuardPolicy::default())
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(
        d.denied
            .expect("refused")
            .reason
            .contains("not allowed to rewrite")
    );

    let d = Guards::new()
        .inline(rewrite(), GuardPolicy::default().may_rewrite())
        .inline(
            Fixed("after", |c| match c.as_statement() {
                Some(s) if &*s.sql == "SELECT 2" && s.classified.is_err() => Ruling::allow(),
                _ => Ruling::deny("saw the old SQL"),
            }),
            GuardPolicy::default(),
        )
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(d.denied.is_none(), "{:?}", d.denied);
    assert_eq!(d.sql().map(|s| &**s), Some("SELECT 2"));
    assert!(
        d.rewritten.as_ref().is_some_and(|c| c.is_err()),
        "classified once, kept"
    );
}

#[actix::test]
async fn shadow_reports_and_permits_are_collected() {
    let d = Guards::new()
        .inline(
            Fixed("s", |_| {
                Ruling::allow()
                    .with_shadow("would deny")
                    .with_permit(Permit::new(()))
            }),
            GuardPolicy::default(),
        )
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(d.denied.is_none());
    assert_eq!(
        d.shadow,
        vec![Shadowed {
            guard: "s".into(),
            reason: "would deny".to_owned()
        }]
    );
    assert_eq!(d.permits.len(), 1);
}

struct Slow(Duration);
impl Actor for Slow {
    type Context = Context<Self>;
}
impl Handler<Check> for Slow {
    type Result = ResponseFuture<Ruling>;
    fn handle(&mut self, _: Check, _: &mut Context<Self>) -> Self::Result {
        let wait = self.0;
        Box::pin(async move {
            actix_rt::time::sleep(wait).await;
            Ruling::allow()
        })
    }
}

struct Panics;
impl Actor for Panics {
    type Context = Context<Self>;
}
impl Handler<Check> for Panics {
    type Result = Ruling;
    fn handle(&mut self, _: Check, _: &mut Context<Self>) -> Ruling {
        panic!("guard actor bug")
    }
}

#[actix::test]
async fn actor_guard_answers_within_deadline() {
    let slow = Slow(Duration::from_millis(5)).start();
    let d = Guards::new()
        .actor("slow", slow.recipient(), GuardPolicy::default())
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(d.denied.is_none());
}

#[actix::test]
async fn actor_guard_past_deadline_fails_closed() {
    let slow = Slow(Duration::from_secs(10)).start();
    let started = std::time::Instant::now();
    let d = Guards::new()
        .actor(
            "slow",
            slow.recipient(),
            GuardPolicy::default().deadline(Duration::from_millis(50)),
        )
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let Denial { guard, reason } = d.denied.expect("fails closed");
    assert_eq!(&*guard, "slow");
    assert!(reason.contains("did not answer within 50ms"), "{reason}");
}

#[actix::test]
async fn actor_guard_that_panics_fails_closed() {
    let addr = Panics.start();
    let d = Guards::new()
        .actor("panics", addr.recipient(), GuardPolicy::default())
        .decide(check("SELECT 1"), unparsed)
        .await;
    assert!(d.denied.expect("fails closed").reason.contains("gone"));
}

#[test]
fn connect_checks_carry_no_labels() {
    let c = Check::connect(
        "p".into(),
        Backend::Postgres,
        3,
        "postgres://u:***@h/db".into(),
        1,
    );
    assert!(c.labels.is_empty() && c.query_id().is_none());
}

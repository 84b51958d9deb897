//! The event stream: SSE framing, filters, `Last-Event-ID` resumes, and
//! what the stream says when it cannot give everything.

use std::time::Duration;

use actix_web::test::{self, TestRequest};
use switchboard::{Event, Execute, Kind};

use crate::support::{Frames, app, pool, publish, run, service, shadow};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn events_are_sse_frames_with_ids_and_event_json() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        let resp =
            test::call_service(&app, TestRequest::get().uri("/api/events").to_request()).await;
        let mut frames = Frames::new(resp);
        let first = frames.next(WAIT).await.unwrap();
        assert_eq!(first.retry, Some(2000));

        shop.run(Execute::sql("SELECT 1").label("request_id", "r-1"))
            .await
            .unwrap();
        let got = frames.events(4, WAIT).await;
        let kinds: Vec<Kind> = got
            .iter()
            .map(|f| Event::from_json(&f.data).unwrap().kind())
            .collect();
        assert_eq!(
            kinds,
            [
                Kind::CheckedOut,
                Kind::Executing,
                Kind::Executed,
                Kind::CheckedIn
            ]
        );
        let ids: Vec<u64> = got.iter().map(|f| f.id.unwrap()).collect();
        assert!(
            ids.windows(2).all(|w| w[1] == w[0] + 1),
            "ids are consecutive: {ids:?}"
        );
        let executing = Event::from_json(&got[1].data).unwrap();
        assert_eq!(executing.meta().labels.get("request_id"), Some("r-1"));
        assert_eq!(&*executing.meta().pool, "shop");
    });
}

#[test]
fn filters_select_by_kind_pool_connection_and_label() {
    run(async {
        let shop = pool("shop").await;
        let billing = pool("billing").await;
        let console = service(&[&shop, &billing], |b| b);
        let app = app(&console).await;
        let open = |q: &str| {
            TestRequest::get()
                .uri(&format!("/api/events?{q}"))
                .to_request()
        };
        let mut denied_acme = Frames::new(
            test::call_service(
                &app,
                open("kind=ShadowDenied&label=tenant:acme&pool=billing"),
            )
            .await,
        );
        let mut conn7 = Frames::new(test::call_service(&app, open("connection=7")).await);

        publish(&shop, &shadow(&shop, 7, "acme", "shop acme"));
        publish(&billing, &shadow(&billing, 8, "globex", "billing globex"));
        publish(&billing, &shadow(&billing, 7, "acme", "billing acme"));
        billing
            .run(Execute::sql("SELECT 1").label("tenant", "acme"))
            .await
            .unwrap();

        let got = denied_acme.events(1, WAIT).await;
        let reasons: Vec<String> = got
            .iter()
            .filter(|f| f.event.is_none() && f.retry.is_none())
            .map(|f| f.json()["reason"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(reasons, ["billing acme"]);
        // Nothing else comes for it.
        assert_eq!(denied_acme.next(Duration::from_millis(300)).await, None);

        let got = conn7.events(2, WAIT).await;
        let mut reasons: Vec<String> = got
            .iter()
            .filter(|f| f.event.is_none() && f.retry.is_none())
            .map(|f| f.json()["reason"].as_str().unwrap().to_owned())
            .collect();
        // Two pools, two feeds: their order between pools is not fixed.
        reasons.sort();
        assert_eq!(reasons, ["billing acme", "shop acme"]);
    });
}

#[test]
fn last_event_id_resumes_with_exactly_what_followed() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        for i in 0..10 {
            publish(&shop, &shadow(&shop, 1, "t", &format!("r{i}")));
        }
        crate::support::eventually("ten entries", WAIT, || console.stats().stream.entries >= 10)
            .await;

        // Everything held, then resume after the fourth.
        let all = TestRequest::get()
            .uri("/api/events")
            .insert_header(("Last-Event-ID", "0"))
            .to_request();
        let mut frames = Frames::new(test::call_service(&app, all).await);
        let got = frames.events(10, WAIT).await;
        let ids: Vec<u64> = got.iter().filter_map(|f| f.id).collect();
        assert_eq!(ids, (1..=10).collect::<Vec<_>>());

        let resume = TestRequest::get()
            .uri("/api/events")
            .insert_header(("Last-Event-ID", "4"))
            .to_request();
        let mut frames = Frames::new(test::call_service(&app, resume).await);
        publish(&shop, &shadow(&shop, 1, "t", "r10"));
        let got = frames.events(7, WAIT).await;
        let ids: Vec<u64> = got.iter().filter_map(|f| f.id).collect();
        assert_eq!(
            ids,
            (5..=11).collect::<Vec<_>>(),
            "no entry lost or repeated"
        );
        assert!(got.iter().all(|f| f.event.as_deref() != Some("gap")));
        assert_eq!(got.last().unwrap().json()["reason"], "r10");
    });
}

#[test]
fn resuming_past_the_ring_reports_the_gap_and_a_restart_resets() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b.ring(4));
        let app = app(&console).await;
        for i in 0..10 {
            publish(&shop, &shadow(&shop, 1, "t", &format!("r{i}")));
        }
        crate::support::eventually("ten entries", WAIT, || console.stats().stream.entries >= 10)
            .await;

        let resume = TestRequest::get()
            .uri("/api/events")
            .insert_header(("Last-Event-ID", "2"))
            .to_request();
        let mut frames = Frames::new(test::call_service(&app, resume).await);
        let got = frames.events(4, WAIT).await;
        let gap = got
            .iter()
            .find(|f| f.event.as_deref() == Some("gap"))
            .expect("a gap notice");
        assert_eq!(
            gap.json(),
            serde_json::json!({ "from": 3, "to": 6, "missed": 4 })
        );
        assert_eq!(gap.id, None, "a notice does not move the client's position");
        assert_eq!(
            got.iter().filter_map(|f| f.id).collect::<Vec<_>>(),
            [7, 8, 9, 10]
        );

        let future = TestRequest::get()
            .uri("/api/events")
            .insert_header(("Last-Event-ID", "99999"))
            .to_request();
        let mut frames = Frames::new(test::call_service(&app, future).await);
        let got = frames.events(4, WAIT).await;
        assert!(got.iter().any(|f| f.event.as_deref() == Some("reset")));
        assert_eq!(
            got.iter().filter_map(|f| f.id).collect::<Vec<_>>(),
            [7, 8, 9, 10]
        );
    });
}

#[test]
fn frequent_events_past_the_rate_are_counted_and_announced_rare_ones_always_stream() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b.stream_rate(5));
        let app = app(&console).await;
        let mut frames = Frames::new(
            test::call_service(&app, TestRequest::get().uri("/api/events").to_request()).await,
        );
        for _ in 0..20 {
            shop.run(Execute::sql("SELECT 1")).await.unwrap();
        }
        for i in 0..20 {
            publish(&shop, &shadow(&shop, 1, "t", &format!("rare{i}")));
        }
        crate::support::eventually("everything offered", WAIT, || {
            let s = console.stats().stream;
            s.skipped > 0 && s.entries > 21
        })
        .await;
        let got = frames.events(21, WAIT).await;
        let rare = got
            .iter()
            .filter(|f| f.event.is_none() && f.data.contains("rare"))
            .count();
        assert_eq!(rare, 20, "every rare event streams");
        let skipped = got
            .iter()
            .find(|f| f.event.as_deref() == Some("skipped"))
            .expect("a skipped notice");
        let notice = skipped.json();
        assert_eq!(notice["pool"], "shop");
        assert!(notice["skipped"].as_u64().unwrap() > 0);
        // The charts still count every statement.
        let (_, activity) = crate::support::json(
            test::call_service(
                &app,
                TestRequest::get()
                    .uri("/api/pools/shop/activity")
                    .to_request(),
            )
            .await,
        )
        .await;
        assert_eq!(crate::support::series_total(&activity, "ok"), 20);
    });
}

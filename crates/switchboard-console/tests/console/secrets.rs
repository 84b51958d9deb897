//! No bind value and no password in any response: sentinels in a pool
//! that shows plain bind values in its own events, and in events carrying
//! a password, must not come out of any endpoint or the stream.

use std::time::Duration;

use actix_web::test::{self, TestRequest};
use diesel::sql_types::Text;
use switchboard::{Execute, ParamPolicy, Switchboard};

use crate::support::{
    BIND_SENTINEL, Frames, PASSWORD_SENTINEL, app, pool_with, publish, run, service,
};

#[test]
fn no_bind_value_or_password_leaves_the_console() {
    run(async {
        let shop = pool_with(
            Switchboard::builder("sqlite::memory:")
                .name("shop")
                .params(ParamPolicy::Plain),
        )
        .await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        let stream = TestRequest::get().uri("/api/events").to_request();
        let mut frames = Frames::new(test::call_service(&app, stream).await);

        // The pool's own events carry the value (the pool allows it).
        let rx = shop
            .bus()
            .subscribe_channel(
                "probe",
                switchboard::Filter::all(),
                switchboard::Delivery::lossy(64),
            )
            .unwrap();
        shop.run(Execute::sql("SELECT ? AS v").bind::<Text, _>(BIND_SENTINEL))
            .await
            .unwrap();
        let _ = shop
            .run(Execute::sql("SELECT nope FROM t WHERE a = ?").bind::<Text, _>(BIND_SENTINEL))
            .await;
        let mut seen_plain = false;
        while let Ok(e) = rx.recv_timeout(Duration::from_secs(2)) {
            seen_plain |= e.to_json().contains(BIND_SENTINEL);
        }
        assert!(
            seen_plain,
            "the test must start from events that carry the value"
        );
        // An event whose target carries a password, however it got there.
        publish(
            &shop,
            &format!(
                r#"{{"id":1,"at":"2026-11-27T01:20:03Z","pool":"shop","connection":9,"seq":1,"backend":"postgres","kind":"Connecting","target":"postgres://app:{PASSWORD_SENTINEL}@db/x?sslpassword={PASSWORD_SENTINEL}","attempt":1}}"#
            ),
        );

        let mut everything = String::new();
        for f in frames.events(9, Duration::from_secs(10)).await {
            everything.push_str(&f.data);
        }
        assert!(
            everything.contains("SELECT ? AS v") && everything.contains("postgres://app:***@db/x"),
            "{everything}"
        );
        let resume = TestRequest::get()
            .uri("/api/events")
            .insert_header(("Last-Event-ID", "0"))
            .to_request();
        for f in Frames::new(test::call_service(&app, resume).await)
            .events(9, Duration::from_secs(10))
            .await
        {
            everything.push_str(&f.data);
        }
        for path in [
            "/api/pools",
            "/api/pools/shop",
            "/api/pools/shop/activity",
            "/api/console",
            "/metrics",
            "/",
            "/console.js",
        ] {
            let body =
                test::call_and_read_body(&app, TestRequest::get().uri(path).to_request()).await;
            everything.push_str(&String::from_utf8_lossy(&body));
        }
        assert!(
            !everything.contains(BIND_SENTINEL),
            "a bind value left the console"
        );
        assert!(
            !everything.contains(PASSWORD_SENTINEL),
            "a password left the console"
        );
        assert!(
            everything.contains("\"sql_type\":\"Text\""),
            "types are still shown"
        );
    });
}

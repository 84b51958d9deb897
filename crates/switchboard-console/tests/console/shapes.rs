//! What each read endpoint answers: the JSON shapes, the headers, and the
//! page.

use std::time::Duration;

use actix_web::test::{self, TestRequest};
use switchboard::{Execute, PoolStatus};

use crate::support::{app, json, pool, run, service};

#[test]
fn pools_and_pool_answer_pool_status_json() {
    run(async {
        let shop = pool("shop").await;
        let billing = pool("billing").await;
        shop.run(Execute::sql("SELECT 1")).await.unwrap();
        let console = service(&[&shop, &billing], |b| b);
        let app = app(&console).await;

        let (status, body) =
            json(test::call_service(&app, TestRequest::get().uri("/api/pools").to_request()).await)
                .await;
        assert_eq!(status, 200);
        let pools: Vec<PoolStatus> = serde_json::from_value(body).unwrap();
        assert_eq!(
            pools.iter().map(|p| &*p.pool).collect::<Vec<_>>(),
            ["shop", "billing"]
        );
        assert_eq!((pools[0].min, pools[0].max, pools[0].open), (1, 1, 1));
        assert_eq!(pools[0].connections.len(), 1);
        assert!(pools[0].connections[0].statements >= 1);

        let (status, body) = json(
            test::call_service(
                &app,
                TestRequest::get().uri("/api/pools/billing").to_request(),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200);
        let billing_status: PoolStatus = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(&*billing_status.pool, "billing");
        for key in [
            "pool",
            "backend",
            "min",
            "max",
            "open",
            "idle",
            "busy",
            "waiting",
            "connecting",
            "connections",
        ] {
            assert!(body.get(key).is_some(), "no {key} in {body}");
        }
    });
}

#[test]
fn activity_counts_outcomes_per_second_and_lists_denials() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        for _ in 0..3 {
            shop.run(Execute::sql("SELECT 1")).await.unwrap();
        }
        let _ = shop.run(Execute::sql("SELECT * FROM nowhere")).await;
        crate::support::publish(
            &shop,
            &crate::support::shadow(&shop, 1, "acme", "would deny"),
        );
        // The feed thread counts them a moment later.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let body = loop {
            let (status, body) = json(
                test::call_service(
                    &app,
                    TestRequest::get()
                        .uri("/api/pools/shop/activity")
                        .to_request(),
                )
                .await,
            )
            .await;
            assert_eq!(status, 200);
            let sum = |k: &str| crate::support::series_total(&body, k);
            if (sum("ok"), sum("error")) == (3, 1) && body["denials"].as_array().unwrap().len() == 1
            {
                break body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "activity never caught up: {body}"
            );
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        };
        assert_eq!(body["pool"], "shop");
        let series = &body["series"];
        assert_eq!(
            series["ok"].as_array().unwrap().len(),
            300,
            "five minutes, one value a second"
        );
        assert_eq!(series["checkout_wait_p99_s"].as_array().unwrap().len(), 300);
        assert!(series["start"].as_i64().is_some());
        let denial = &body["denials"][0];
        assert_eq!(
            (denial["guard"].as_str(), denial["shadow"].as_bool()),
            (Some("test"), Some(true))
        );
        assert_eq!(denial["labels"]["tenant"], "acme");
        let slowest = body["slowest"].as_array().unwrap();
        assert_eq!(slowest.len(), 4);
        assert!(
            slowest
                .windows(2)
                .all(|w| w[0]["took_ns"].as_u64() >= w[1]["took_ns"].as_u64())
        );
        assert!(
            slowest
                .iter()
                .any(|s| s["sql"] == "SELECT * FROM nowhere" && s["failed"] == true)
        );
        assert_eq!(body["leaks"], serde_json::json!([]));
    });
}

#[test]
fn console_healthz_metrics_and_the_page() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        shop.run(Execute::sql("SELECT 1")).await.unwrap();

        let (status, body) = json(
            test::call_service(&app, TestRequest::get().uri("/api/console").to_request()).await,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["pools"], serde_json::json!(["shop"]));
        assert_eq!(body["actions"], false);
        assert_eq!(body["stats"]["clients"], 0);

        let (status, body) =
            json(test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await)
                .await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

        // Metrics from switchboard-observe, recorded into the console's own recorder.
        crate::support::eventually(
            "a statement counted in /metrics",
            Duration::from_secs(10),
            || {
                console
                    .render_metrics()
                    .is_some_and(|m| m.contains("switchboard_statements_total"))
            },
        )
        .await;
        let resp = test::call_service(&app, TestRequest::get().uri("/metrics").to_request()).await;
        assert_eq!(resp.status(), 200);
        assert!(
            resp.headers()
                .get("content-type")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        let text = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
        assert!(text.contains("switchboard_statements_total{"), "{text}");
        assert!(
            text.contains("switchboard_console_stream_clients"),
            "{text}"
        );

        for (path, kind) in [
            ("/", "text/html"),
            ("/console.js", "text/javascript"),
            ("/console.css", "text/css"),
        ] {
            let resp = test::call_service(&app, TestRequest::get().uri(path).to_request()).await;
            assert_eq!(resp.status(), 200, "{path}");
            let headers = resp.headers();
            assert!(
                headers
                    .get("content-type")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(kind)
            );
            let csp = headers
                .get("content-security-policy")
                .unwrap()
                .to_str()
                .unwrap();
            assert!(
                csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
                "{csp}"
            );
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(headers.get("x-content-type-options").unwrap(), "nosniff");
            assert_eq!(headers.get("x-frame-options").unwrap(), "DENY");
        }
        let page = test::call_and_read_body(&app, TestRequest::get().uri("/").to_request()).await;
        let page = String::from_utf8(page.to_vec()).unwrap();
        // Self-contained: nothing loaded from elsewhere, no inline script or style.
        assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"));
        assert!(
            !page.contains("<script>") && !page.contains("<style") && !page.contains(" style=")
        );
    });
}

#[test]
fn a_stopped_pool_turns_healthz_to_503() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        shop.shutdown().await.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let (status, body) = loop {
            let answer = json(
                test::call_service(&app, TestRequest::get().uri("/healthz").to_request()).await,
            )
            .await;
            if answer.0 == 503 || std::time::Instant::now() > deadline {
                break answer;
            }
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["stopped"], serde_json::json!(["shop"]));
        let (status, body) = json(
            test::call_service(&app, TestRequest::get().uri("/api/pools/shop").to_request()).await,
        )
        .await;
        assert_eq!(status, 503, "{body}");
        assert!(body["error"].as_str().unwrap().contains("shop"));
    });
}

/// The console's tap sees every statement: the page's counts and
/// `/metrics` add up to exactly what ran, failures apart, with callers on
/// several tasks at once.
#[test]
fn every_statement_is_counted_on_the_page_and_in_metrics() {
    run(async {
        let pool = crate::support::pool_with(
            switchboard::Switchboard::builder("sqlite::memory:")
                .name("counted")
                .pool_size(2..=2),
        )
        .await;
        let console = service(&[&pool], |b| b);
        let app = app(&console).await;
        const TASKS: usize = 4;
        const EACH: usize = 250;
        const FAILING: usize = 7;
        let runs = (0..TASKS).map(|_| {
            let pool = pool.clone();
            async move {
                for _ in 0..EACH {
                    pool.run(Execute::sql("SELECT 1")).await.unwrap();
                }
            }
        });
        futures_util::future::join_all(runs).await;
        for _ in 0..FAILING {
            assert!(
                pool.run(Execute::sql("SELECT * FROM nowhere"))
                    .await
                    .is_err()
            );
        }

        let (status, body) = json(
            test::call_service(
                &app,
                TestRequest::get()
                    .uri("/api/pools/counted/activity")
                    .to_request(),
            )
            .await,
        )
        .await;
        assert_eq!(status, 200);
        let sum = |key: &str| crate::support::series_total(&body, key);
        assert_eq!(sum("ok"), (TASKS * EACH) as u64, "{body}");
        assert_eq!(sum("error"), FAILING as u64, "{body}");

        // /metrics counts them as the tap sees them (the page's counts
        // above were taken the same way); waited for all the same.
        let counted = |outcome: &str| -> u64 {
            console
                .render_metrics()
                .unwrap_or_default()
                .lines()
                .filter(|l| l.starts_with("switchboard_statements_total{"))
                .filter(|l| {
                    l.contains(r#"pool="counted""#)
                        && l.contains(&format!(r#"outcome="{outcome}""#))
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                .sum()
        };
        crate::support::eventually(
            "every statement counted in /metrics",
            Duration::from_secs(10),
            || counted("ok") == (TASKS * EACH) as u64 && counted("error") == FAILING as u64,
        )
        .await;
        assert_eq!(console.stats().missed, 0);
    });
}

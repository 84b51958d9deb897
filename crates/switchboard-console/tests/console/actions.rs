//! Tokens and actions: reads need the token when one is set; actions are
//! off unless enabled, then need the actions token; each answers with its
//! outcome and shows on the event stream.

use std::time::Duration;

use actix_web::test::{self, TestRequest};
use switchboard_rules::RuleEngine;

use crate::support::{ACT_TOKEN, Frames, READ_TOKEN, app, json, pool, run, service};

const RULES: &str = "name = \"policy\"\n[[rule]]\nkind = \"require_where\"\n";
const TWO_RULES: &str = "name = \"policy\"\n[[rule]]\nkind = \"require_where\"\n[[rule]]\nkind = \"deny_tables\"\ntables = [\"payroll\"]\n";

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

#[test]
fn with_a_token_every_data_request_needs_it_but_the_page_and_healthz_do_not() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b.token(READ_TOKEN).actions(ACT_TOKEN));
        let app = app(&console).await;
        for path in [
            "/api/pools",
            "/api/pools/shop",
            "/api/pools/shop/activity",
            "/api/console",
            "/api/events",
            "/metrics",
        ] {
            let resp = test::call_service(&app, TestRequest::get().uri(path).to_request()).await;
            assert_eq!(resp.status(), 401, "{path} without a token");
            assert!(
                resp.headers()
                    .get("www-authenticate")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
            let wrong = TestRequest::get()
                .uri(path)
                .insert_header(bearer("read-token-0123456780"))
                .to_request();
            assert_eq!(
                test::call_service(&app, wrong).await.status(),
                401,
                "{path} with a wrong token"
            );
            let basic = TestRequest::get()
                .uri(path)
                .insert_header(("Authorization", format!("Basic {READ_TOKEN}")))
                .to_request();
            assert_eq!(
                test::call_service(&app, basic).await.status(),
                401,
                "{path} with another scheme"
            );
            for token in [READ_TOKEN, ACT_TOKEN] {
                let ok = TestRequest::get()
                    .uri(path)
                    .insert_header(bearer(token))
                    .to_request();
                assert_eq!(test::call_service(&app, ok).await.status(), 200, "{path}");
            }
        }
        for path in ["/", "/console.js", "/console.css", "/healthz"] {
            let resp = test::call_service(&app, TestRequest::get().uri(path).to_request()).await;
            assert_eq!(resp.status(), 200, "{path}");
        }
    });
}

#[test]
fn actions_are_off_unless_enabled() {
    run(async {
        let shop = pool("shop").await;
        let engine = RuleEngine::from_toml(RULES).unwrap();
        let console = service(&[&shop], |b| b.rules(&engine));
        let app = app(&console).await;
        let req = TestRequest::post()
            .uri("/api/rules/policy/read-only")
            .insert_header(bearer(ACT_TOKEN))
            .set_payload(r#"{"on": true}"#)
            .to_request();
        let (status, body) = json(test::call_service(&app, req).await).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["error"].as_str().unwrap().contains("actions are off"));
        assert!(!engine.is_read_only());
    });
}

#[test]
fn read_only_switch_needs_the_actions_token_and_is_announced() {
    run(async {
        let shop = pool("shop").await;
        let engine = RuleEngine::from_toml(RULES).unwrap();
        let console = service(&[&shop], |b| {
            b.token(READ_TOKEN).actions(ACT_TOKEN).rules(&engine)
        });
        let app = app(&console).await;
        let stream = TestRequest::get()
            .uri("/api/events?kind=action")
            .insert_header(bearer(READ_TOKEN))
            .to_request();
        let mut frames = Frames::new(test::call_service(&app, stream).await);

        let switch = |token: Option<&str>, body: &str| {
            let mut req = TestRequest::post()
                .uri("/api/rules/policy/read-only")
                .set_payload(body.to_owned());
            if let Some(t) = token {
                req = req.insert_header(bearer(t));
            }
            req.to_request()
        };
        for token in [None, Some(READ_TOKEN)] {
            let (status, _) =
                json(test::call_service(&app, switch(token, r#"{"on": true}"#)).await).await;
            assert_eq!(status, 401, "{token:?}");
            assert!(!engine.is_read_only());
        }
        let (status, body) =
            json(test::call_service(&app, switch(Some(ACT_TOKEN), r#"{"on": true}"#)).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (body["read_only"].as_bool(), body["was"].as_bool()),
            (Some(true), Some(false))
        );
        assert!(engine.is_read_only());

        let got = frames.next(Duration::from_secs(10)).await.unwrap();
        assert_eq!(got.retry, Some(2000));
        let got = frames.next(Duration::from_secs(10)).await.unwrap();
        assert_eq!(got.event.as_deref(), Some("action"));
        assert!(got.id.is_some());
        let action = got.json();
        assert_eq!(
            (
                action["action"].as_str(),
                action["rules"].as_str(),
                action["read_only"].as_bool()
            ),
            (Some("read_only"), Some("policy"), Some(true))
        );

        for bad in ["", "{}", r#"{"on": "yes"}"#, r#"{"on": true, "off": 1}"#] {
            let (status, body) =
                json(test::call_service(&app, switch(Some(ACT_TOKEN), bad)).await).await;
            assert_eq!(
                (status, body["parameter"].as_str()),
                (400, Some("on")),
                "{bad}: {body}"
            );
        }
        let unknown = TestRequest::post()
            .uri("/api/rules/other/read-only")
            .insert_header(bearer(ACT_TOKEN))
            .set_payload(r#"{"on":true}"#)
            .to_request();
        let (status, body) = json(test::call_service(&app, unknown).await).await;
        assert_eq!(status, 404, "{body}");
    });
}

#[test]
fn reload_reads_the_file_and_a_broken_file_leaves_the_old_rules() {
    run(async {
        let shop = pool("shop").await;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("rules.toml");
        std::fs::write(&file, RULES).unwrap();
        let engine = RuleEngine::from_file(&file).unwrap();
        let fixed = RuleEngine::from_toml(&RULES.replace("policy", "fixed")).unwrap();
        let console = service(&[&shop], |b| {
            b.actions(ACT_TOKEN)
                .rules_file(&engine, &file)
                .rules(&fixed)
        });
        let app = app(&console).await;
        let mut frames = Frames::new(
            test::call_service(
                &app,
                TestRequest::get()
                    .uri("/api/events?kind=action")
                    .to_request(),
            )
            .await,
        );
        let reload = |name: &str| {
            TestRequest::post()
                .uri(&format!("/api/rules/{name}/reload"))
                .insert_header(bearer(ACT_TOKEN))
                .to_request()
        };

        std::fs::write(&file, TWO_RULES).unwrap();
        let (status, body) = json(test::call_service(&app, reload("policy")).await).await;
        assert_eq!(
            (
                status,
                body["outcome"].as_str(),
                body["rules_in_force"].as_u64()
            ),
            (200, Some("reloaded"), Some(2)),
            "{body}"
        );
        assert_eq!(engine.rules_len(), 2);

        std::fs::write(
            &file,
            "name = \"policy\"\n[[rule]]\nkind = \"require_where\"\nclases = []\n",
        )
        .unwrap();
        let (status, body) = json(test::call_service(&app, reload("policy")).await).await;
        assert_eq!(
            (status, body["outcome"].as_str()),
            (422, Some("refused")),
            "{body}"
        );
        assert!(body["error"].as_str().unwrap().contains("clases"), "{body}");
        assert_eq!(engine.rules_len(), 2, "the old rules stay in force");

        let (status, body) = json(test::call_service(&app, reload("fixed")).await).await;
        assert_eq!(status, 409, "{body}");

        let action = |f: &crate::support::Frame| f.event.as_deref() == Some("action");
        let outcomes: Vec<String> = frames
            .matching(2, Duration::from_secs(10), action)
            .await
            .iter()
            .filter(|f| f.event.as_deref() == Some("action"))
            .map(|f| f.json()["outcome"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(outcomes, ["reloaded", "refused"]);
    });
}

#[test]
fn recycle_replaces_a_pools_connections_and_is_announced() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b.actions(ACT_TOKEN));
        let app = app(&console).await;
        let mut frames = Frames::new(
            test::call_service(
                &app,
                TestRequest::get()
                    .uri("/api/events?kind=action,closing")
                    .to_request(),
            )
            .await,
        );
        let recycle = |name: &str, token: Option<&str>| {
            let mut req = TestRequest::post().uri(&format!("/api/pools/{name}/recycle"));
            if let Some(t) = token {
                req = req.insert_header(bearer(t));
            }
            req.to_request()
        };
        let (status, _) = json(test::call_service(&app, recycle("shop", None)).await).await;
        assert_eq!(status, 401);
        let (status, body) =
            json(test::call_service(&app, recycle("other", Some(ACT_TOKEN))).await).await;
        assert_eq!(status, 404, "{body}");

        let (status, body) =
            json(test::call_service(&app, recycle("shop", Some(ACT_TOKEN))).await).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            (
                body["action"].as_str(),
                body["pool"].as_str(),
                body["outcome"].as_str()
            ),
            (Some("recycle"), Some("shop"), Some("recycling"))
        );
        // On the stream: the action, and the idle connection closing for it.
        let mut seen_action = false;
        let mut seen_close = false;
        while !(seen_action && seen_close) {
            let got = frames
                .next(Duration::from_secs(10))
                .await
                .expect("the action and the recycled connection's Closing");
            if got.data.is_empty() {
                continue;
            }
            let v = got.json();
            if v["action"].as_str() == Some("recycle") {
                seen_action = true;
            }
            if got.data.contains("recycled") {
                seen_close = true;
            }
        }
        // The pool still serves.
        shop.run(switchboard::Execute::sql("SELECT 1"))
            .await
            .unwrap();
    });
}

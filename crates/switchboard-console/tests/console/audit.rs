//! Audit logs on the console: their counters and last verification, read
//! live; the verify action finds a log cut short behind the console's back.

use std::time::{Duration, Instant};

use actix_web::test::{self, TestRequest};
use serde_json::Value;
use switchboard::Execute;
use switchboard_audit::{AuditLog, SecretKey};

use crate::support::{ACT_TOKEN, app, json, pool, run, service};

const WAIT: Duration = Duration::from_secs(10);

fn bearer(token: &str) -> (&'static str, String) {
    ("Authorization", format!("Bearer {token}"))
}

#[test]
fn an_audit_log_shows_its_head_and_a_cut_is_found_by_the_verify_action() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::builder(dir.path())
            .name("ledger")
            .sign_checkpoints(SecretKey::from_bytes(&[7; 32]))
            .open()
            .unwrap();
        let shop = pool("shop").await;
        let _audited = log.attach(shop.bus()).unwrap();
        for _ in 0..3 {
            shop.run(Execute::sql("SELECT 1")).await.unwrap();
        }
        log.flush(WAIT).await.unwrap();
        let console = service(&[&shop], |b| b.actions(ACT_TOKEN).audit(&log));
        let app = app(&console).await;

        // The first verification runs when the console starts.
        let deadline = Instant::now() + WAIT;
        let first = loop {
            let (status, body) = json(
                test::call_service(&app, TestRequest::get().uri("/api/audit").to_request()).await,
            )
            .await;
            assert_eq!(status, 200, "{body}");
            let ledger = body[0].clone();
            if !ledger["last_verify"].is_null() {
                break ledger;
            }
            assert!(Instant::now() < deadline, "never verified: {body}");
            actix_rt::time::sleep(Duration::from_millis(20)).await;
        };
        assert_eq!(first["name"], "ledger");
        assert_eq!(first["signed"], true);
        let records = first["records"].as_u64().unwrap();
        assert!(records >= 6, "{first}");
        assert_eq!(first["last_verify"]["ok"], true, "{first}");
        assert_eq!(first["last_verify"]["records"].as_u64(), Some(records));

        // The action needs the actions token, and a log it watches.
        let anonymous = TestRequest::post()
            .uri("/api/audit/ledger/verify")
            .to_request();
        assert_eq!(test::call_service(&app, anonymous).await.status(), 401);
        let unknown = TestRequest::post()
            .uri("/api/audit/nope/verify")
            .insert_header(bearer(ACT_TOKEN))
            .to_request();
        let (status, body) = json(test::call_service(&app, unknown).await).await;
        assert_eq!(status, 404, "{body}");
        assert!(body["error"].as_str().unwrap().contains("ledger"), "{body}");

        // Closed (its last checkpoint covers every record), then cut short
        // by one record: the action says so, and so does the listing.
        log.close(WAIT).await.unwrap();
        let verify = |app| async move {
            let req = TestRequest::post()
                .uri("/api/audit/ledger/verify")
                .insert_header(bearer(ACT_TOKEN))
                .to_request();
            json(test::call_service(app, req).await).await
        };
        let (status, body) = verify(&app).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["outcome"], "verified");
        assert_eq!(body["verify"]["unanchored"], 0, "{body}");
        let file = switchboard_audit::files(dir.path(), "audit")
            .unwrap()
            .pop()
            .unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let last_line = bytes[..bytes.len() - 1]
            .iter()
            .rposition(|b| *b == b'\n')
            .unwrap();
        std::fs::write(&file, &bytes[..=last_line]).unwrap();
        let (status, body) = verify(&app).await;
        assert_eq!(status, 409, "{body}");
        assert_eq!(body["outcome"], "failed");
        assert!(
            body["verify"]["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty()),
            "{body}"
        );
        let (_, listing) =
            json(test::call_service(&app, TestRequest::get().uri("/api/audit").to_request()).await)
                .await;
        let last: &Value = &listing[0]["last_verify"];
        assert_eq!(last["ok"], false, "{listing}");

        // The page loads the section's script.
        let script =
            test::call_service(&app, TestRequest::get().uri("/audit.js").to_request()).await;
        assert_eq!(script.status(), 200);
        shop.shutdown().await.unwrap();
    });
}

#[test]
fn two_audit_logs_with_one_name_are_refused() {
    run(async {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = AuditLog::builder(a.path()).open().unwrap();
        let two = AuditLog::builder(b.path()).open().unwrap();
        let shop = pool("shop").await;
        let err = switchboard_console::Console::builder()
            .watch(&shop)
            .audit(&one)
            .audit(&two)
            .build()
            .err()
            .unwrap();
        assert!(err.to_string().contains("audit"), "{err}");
        shop.shutdown().await.unwrap();
    });
}

//! The operations console's page in a real browser: headless Chromium
//! loads `/` while the console example's workload runs, and the rendered
//! DOM must show the pools, the connection table, at least 20 streamed
//! events and a denial, with no script error or CSP violation, and with a
//! hostile label shown as text rather than turned into markup.
//!
//! The page is also photographed: to `$CARGO_TARGET_TMPDIR/console.png`,
//! or to `SWITCHBOARD_CONSOLE_SCREENSHOT` when set (how
//! `docs/console.png` is made).

#[path = "../examples/console/workload.rs"]
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use switchboard::Execute;
use switchboard_console::Console;

use crate::support::chromium::{self, Browser};
use crate::support::run_local;

/// What the test reads from the rendered page.
const FINDINGS: &str = r##"JSON.stringify({
  pools: document.querySelectorAll("#pools tbody tr.pool-row").length,
  connections: document.querySelectorAll("#connections tbody tr.conn-row").length,
  events: document.querySelectorAll("#events tbody tr.event").length,
  deniedEvents: document.querySelectorAll("#events tbody tr.kind-Denied").length,
  denials: document.querySelectorAll("#denials tbody tr.denial").length,
  charts: document.querySelectorAll("#charts svg path").length,
  live: document.querySelector("#live").textContent,
  hostileShown: document.querySelector("#events").innerText.includes("<img src=x onerror"),
  injected: document.querySelectorAll("main img, main script, #events b").length,
})"##;

fn ready(f: &Value) -> bool {
    f["pools"] == 2
        && f["connections"].as_u64() >= Some(3)
        && f["events"].as_u64() >= Some(20)
        && f["deniedEvents"].as_u64() >= Some(1)
        && f["denials"].as_u64() >= Some(1)
        && f["charts"].as_u64() >= Some(1)
        && f["hostileShown"] == true
}

#[test]
fn the_console_page_shows_pools_connections_events_and_denials_in_chromium() {
    let Some(chromium) = chromium::find() else {
        return;
    };
    run_local(async move {
        let dir = std::env::temp_dir().join(format!("sb-console-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shop = Arc::new(workload::Shop::start(&dir).await.unwrap());
        let console = Console::builder()
            .listen("127.0.0.1:0")
            .watch(&shop.shop)
            .watch(&shop.billing)
            .rules_file(&shop.rules, dir.join("rules.toml"))
            .start()
            .unwrap();

        // The workload, and a denied statement with a hostile label, run
        // until the browser is done.
        let done = Arc::new(AtomicBool::new(false));
        let traffic = {
            let (shop, done) = (shop.clone(), done.clone());
            actix_rt::spawn(async move {
                let mut round = 0;
                while !done.load(Ordering::Relaxed) {
                    shop.round(0, round).await;
                    let _ = shop
                        .shop
                        .run(
                            Execute::sql("DELETE FROM orders")
                                .label("note", "<img src=x onerror=alert(1)><b>bold</b>"),
                        )
                        .await;
                    round += 1;
                    actix_rt::time::sleep(Duration::from_millis(50)).await;
                }
            })
        };

        let url = console.url();
        let shot = std::env::var_os("SWITCHBOARD_CONSOLE_SCREENSHOT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console.png"));
        let browsed = actix_rt::task::spawn_blocking(move || {
            let mut browser = Browser::launch(&chromium, 1400, 1500);
            browser.navigate(&url);
            let deadline = Instant::now() + Duration::from_secs(30);
            let findings = loop {
                let text = browser.eval(FINDINGS);
                let findings: Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
                if ready(&findings) || Instant::now() > deadline {
                    break findings;
                }
                std::thread::sleep(Duration::from_millis(250));
            };
            // Let the charts gather a few seconds, for the picture.
            std::thread::sleep(Duration::from_secs(3));
            browser.screenshot(&shot);
            (findings, std::mem::take(&mut browser.problems), shot)
        })
        .await
        .unwrap();
        done.store(true, Ordering::Relaxed);
        traffic.await.unwrap();
        let (findings, problems, shot) = browsed;

        assert!(ready(&findings), "the page never showed it all: {findings}");
        assert_eq!(findings["injected"], 0, "a label became markup: {findings}");
        assert_eq!(findings["live"], "live", "{findings}");
        assert!(
            problems.is_empty(),
            "the page reported errors: {problems:?}"
        );
        assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 10_000));
        console.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    });
}

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

/// What the test reads from the rendered page; also before the page has
/// loaded (`Page.navigate` answers before the load), when nothing is there.
const FINDINGS: &str = r##"JSON.stringify({
  pools: document.querySelectorAll("#pools tbody tr.pool-row").length,
  connections: document.querySelectorAll("#connections tbody tr.conn-row").length,
  events: document.querySelectorAll("#events tbody tr.event").length,
  deniedEvents: document.querySelectorAll("#events tbody tr.kind-Denied").length,
  denials: document.querySelectorAll("#denials tbody tr.denial").length,
  charts: document.querySelectorAll("#charts svg path").length,
  live: document.querySelector("#live")?.textContent ?? "",
  hostileShown: (document.querySelector("#events")?.innerText ?? "").includes("<img src=x onerror"),
  injected: document.querySelectorAll("main img, main script, #events b").length,
  audit: document.querySelector("#audits tbody tr")?.innerText ?? "",
})"##;

fn ready(f: &Value) -> bool {
    f["pools"] == 2
        && f["connections"].as_u64() >= Some(3)
        && f["events"].as_u64() >= Some(20)
        && f["deniedEvents"].as_u64() >= Some(1)
        && f["denials"].as_u64() >= Some(1)
        && f["charts"].as_u64() >= Some(1)
        && f["hostileShown"] == true
        && f["audit"]
            .as_str()
            .is_some_and(|a| a.contains("ok ") && a.contains("(signed)"))
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
        let audit = shop.audit(&dir).unwrap();
        let console = Console::builder()
            .listen("127.0.0.1:0")
            .watch(&shop.shop)
            .watch(&shop.billing)
            .rules_file(&shop.rules, dir.join("rules.toml"))
            .audit(&audit)
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

/// One HTTP/1.1 GET on a fresh connection; everything read within `within`
/// (an event stream never ends by itself).
fn get(addr: std::net::SocketAddr, path: &str, header: &str, within: Duration) -> String {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(
        conn,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{header}\r\n"
    )
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn no_password_or_bind_value_of_a_postgres_pool_leaves_the_console() {
    use diesel::sql_types::Text;
    use switchboard::{ParamPolicy, Switchboard};

    const PASSWORD: &str = "Pw-Sentinel-5f0aa1";
    const BIND: &str = "Bind-Sentinel-c2e9d7";
    let Some(url) = crate::support::server_url(crate::support::Db::Postgres) else {
        return;
    };
    // The shared server trusts local connections: the password is carried
    // to the driver and never checked, which is what this test needs.
    let mut url = url::Url::parse(&url).unwrap();
    url.set_password(Some(PASSWORD)).unwrap();
    run_local(async move {
        let sb = Switchboard::builder(url.to_string())
            .name(format!("sb_console_secrets_{}", std::process::id()))
            .params(ParamPolicy::Plain)
            // No connection until the console watches: it sees the connect.
            .pool_size(0..=1)
            .start()
            .await
            .unwrap();
        let console = Console::builder()
            .listen("127.0.0.1:0")
            .watch(&sb)
            .start()
            .unwrap();
        sb.run(Execute::sql("SELECT $1::text AS v").bind::<Text, _>(BIND))
            .await
            .unwrap();
        let _ = sb
            .run(Execute::sql("SELECT nope FROM nowhere WHERE a = $1").bind::<Text, _>(BIND))
            .await;
        let addr = console.local_addr();
        let name = sb.name().to_owned();
        let everything = actix_rt::task::spawn_blocking(move || {
            let mut all = String::new();
            for path in [
                "/api/pools".to_owned(),
                format!("/api/pools/{name}"),
                format!("/api/pools/{name}/activity"),
                "/api/console".to_owned(),
                "/metrics".to_owned(),
            ] {
                all.push_str(&get(addr, &path, "", Duration::from_secs(3)));
            }
            all.push_str(&get(
                addr,
                "/api/events",
                "Last-Event-ID: 0\r\n",
                Duration::from_secs(1),
            ));
            all
        })
        .await
        .unwrap();
        assert!(everything.contains("SELECT $1::text AS v"), "{everything}");
        assert!(
            everything.contains(r#""kind":"Connecting""#),
            "{everything}"
        );
        assert!(everything.contains("\"sql_type\":\"Text\""), "{everything}");
        assert!(!everything.contains(BIND), "a bind value left the console");
        assert!(
            !everything.contains(PASSWORD),
            "a password left the console"
        );
        console.stop().await;
        sb.shutdown().await.unwrap();
    });
}

/// The body of an HTTP response read by [`get`].
fn body(response: &str) -> &str {
    response.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

/// One console watching a PostgreSQL and a MariaDB pool counts every
/// statement of each exactly, on the page and in `/metrics`. On
/// PostgreSQL, statements measured fast are pipelined, so the events of
/// several statements interleave on one connection (which SQLite never
/// does).
#[test]
fn every_statement_of_postgres_and_mariadb_pools_is_counted_by_one_console() {
    use switchboard::Switchboard;

    const TASKS: usize = 8;
    const EACH: usize = 60;
    const FAILING: usize = 5;
    let mut urls = Vec::new();
    for (db, tag) in [
        (crate::support::Db::Postgres, "pg"),
        (crate::support::Db::Mysql, "maria"),
    ] {
        let Some(url) = crate::support::server_url(db) else {
            return;
        };
        urls.push((
            url,
            format!("sb_console_counts_{tag}_{}", std::process::id()),
        ));
    }
    run_local(async move {
        let mut pools = Vec::new();
        for (url, name) in &urls {
            pools.push(
                Switchboard::builder(url.clone())
                    .name(name.clone())
                    .pool_size(2..=2)
                    .start()
                    .await
                    .unwrap(),
            );
        }
        let mut builder = Console::builder().listen("127.0.0.1:0");
        for pool in &pools {
            builder = builder.watch(pool);
        }
        let console = builder.start().unwrap();
        let runs = pools.iter().flat_map(|pool| {
            (0..TASKS).map(move |_| {
                let pool = pool.clone();
                async move {
                    for _ in 0..EACH {
                        pool.run(Execute::sql("SELECT 1")).await.unwrap();
                    }
                }
            })
        });
        futures_util::future::join_all(runs).await;
        for pool in &pools {
            for _ in 0..FAILING {
                assert!(
                    pool.run(Execute::sql("SELECT * FROM sb_console_nowhere"))
                        .await
                        .is_err()
                );
            }
        }
        let addr = console.local_addr();
        let names: Vec<String> = urls.iter().map(|(_, name)| name.clone()).collect();
        // Read over HTTP, as an operator would; the counts are taken on
        // the connections' threads as each event is stamped, so they are
        // complete once the statements have answered.
        let (activity, metrics) = actix_rt::task::spawn_blocking(move || {
            let activity: Vec<String> = names
                .iter()
                .map(|name| {
                    get(
                        addr,
                        &format!("/api/pools/{name}/activity"),
                        "",
                        Duration::from_secs(2),
                    )
                })
                .collect();
            (activity, get(addr, "/metrics", "", Duration::from_secs(2)))
        })
        .await
        .unwrap();
        for ((_, name), page) in urls.iter().zip(&activity) {
            let page: Value = serde_json::from_str(body(page))
                .unwrap_or_else(|e| panic!("{name}'s activity: {e}\n{page}"));
            let total = |key: &str| -> u64 {
                page["series"][key]
                    .as_array()
                    .unwrap_or_else(|| panic!("no series {key} in {page}"))
                    .iter()
                    .map(|n| n.as_u64().unwrap_or_else(|| panic!("{key}: {n} in {page}")))
                    .sum()
            };
            assert_eq!(total("ok"), (TASKS * EACH) as u64, "{name}: {page}");
            assert_eq!(total("error"), FAILING as u64, "{name}: {page}");
            let counted = |outcome: &str| -> u64 {
                body(&metrics)
                    .lines()
                    .filter(|l| l.starts_with("switchboard_statements_total{"))
                    .filter(|l| {
                        l.contains(&format!(r#"pool="{name}""#))
                            && l.contains(&format!(r#"outcome="{outcome}""#))
                    })
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
                    .sum()
            };
            assert_eq!(counted("ok"), (TASKS * EACH) as u64, "{name}: {metrics}");
            assert_eq!(counted("error"), FAILING as u64, "{name}: {metrics}");
        }
        assert_eq!(console.stats().missed, 0);
        console.stop().await;
        for pool in pools {
            pool.shutdown().await.unwrap();
        }
    });
}

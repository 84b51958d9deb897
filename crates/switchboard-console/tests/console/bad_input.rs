//! Bad input and hostile clients: unknown pools, malformed filters, too
//! many clients, a client that never reads, one that vanishes, a port in
//! use.

use std::io::Read;
use std::time::Duration;

use actix_web::test::{self, TestRequest};
use switchboard_console::{Console, Error};

use crate::support::{
    Frames, app, eventually, json, open_stream, pool, publish, run, serve, service, shadow,
};

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn an_unknown_pool_is_a_404_with_a_json_error_naming_the_watched_ones() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        for path in [
            "/api/pools/nope",
            "/api/pools/nope/activity",
            "/api/nothing",
            "/api/pools/shop/extra",
        ] {
            let (status, body) =
                json(test::call_service(&app, TestRequest::get().uri(path).to_request()).await)
                    .await;
            assert_eq!(status, 404, "{path}: {body}");
            assert!(body["error"].is_string(), "{path}: {body}");
        }
        let (_, body) = json(
            test::call_service(&app, TestRequest::get().uri("/api/pools/nope").to_request()).await,
        )
        .await;
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("\"nope\"") && error.contains("shop"),
            "{error}"
        );
    });
}

#[test]
fn malformed_filters_are_a_400_naming_the_parameter() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b);
        let app = app(&console).await;
        for (query, parameter) in [
            ("kind=Executing,Nope", "kind"),
            ("kind=", "kind"),
            ("pool=billing", "pool"),
            ("connection=abc", "connection"),
            ("connection=1&connection=2", "connection"),
            ("label=tenant", "label"),
            ("label=:x", "label"),
            ("since=3", "since"),
        ] {
            let req = TestRequest::get()
                .uri(&format!("/api/events?{query}"))
                .to_request();
            let (status, body) = json(test::call_service(&app, req).await).await;
            assert_eq!(
                (status, body["parameter"].as_str()),
                (400, Some(parameter)),
                "{query}: {body}"
            );
            assert!(
                body["error"].as_str().unwrap().contains(parameter),
                "{query}: {body}"
            );
        }
        let req = TestRequest::get()
            .uri("/api/events")
            .insert_header(("Last-Event-ID", "yesterday"))
            .to_request();
        let (status, body) = json(test::call_service(&app, req).await).await;
        assert_eq!(
            (status, body["parameter"].as_str()),
            (400, Some("Last-Event-ID")),
            "{body}"
        );
        assert_eq!(
            console.stats().stream.clients,
            0,
            "a refused client takes no place"
        );
    });
}

#[test]
fn clients_past_max_clients_get_503_and_leaving_frees_a_place() {
    run(async {
        let shop = pool("shop").await;
        let console = service(&[&shop], |b| b.max_clients(2));
        let app = app(&console).await;
        let open = || TestRequest::get().uri("/api/events").to_request();
        let first = Frames::new(test::call_service(&app, open()).await);
        let _second = Frames::new(test::call_service(&app, open()).await);
        let resp = test::call_service(&app, open()).await;
        assert_eq!(resp.status(), 503);
        assert_eq!(resp.headers().get("retry-after").unwrap(), "5");
        let (_, body) = json(resp).await;
        assert!(
            body["error"].as_str().unwrap().contains("max_clients"),
            "{body}"
        );
        assert_eq!(console.stats().stream.refused, 1);
        drop(first);
        assert_eq!(
            console.stats().stream.clients,
            1,
            "dropping a stream frees its place at once"
        );
        Frames::new(test::call_service(&app, open()).await);
    });
}

#[test]
fn a_client_that_never_reads_is_dropped_when_its_buffer_fills_and_counted() {
    run(async {
        let shop = pool("shop").await;
        let console = serve(&[&shop], |b| b.client_buffer(8));
        let addr = console.local_addr();
        // Blocking reads: off the System's thread, which serves the console too.
        let stalled = actix_rt::task::spawn_blocking(move || open_stream(addr))
            .await
            .unwrap();
        eventually("the client joined", WAIT, || {
            console.stats().stream.clients == 1
        })
        .await;
        // Big events, so that the socket buffers fill soon: then the
        // client's own buffer fills, and it is dropped.
        let reason = "x".repeat(16 * 1024);
        let mut sent = 0;
        while console.stats().stream.dropped_slow == 0 {
            assert!(sent < 20_000, "never dropped: {:?}", console.stats());
            for _ in 0..100 {
                publish(&shop, &shadow(&shop, 1, "t", &reason));
            }
            sent += 100;
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        let stats = console.stats();
        assert_eq!(
            (stats.stream.clients, stats.stream.dropped_slow),
            (0, 1),
            "{stats:?}"
        );
        // The pool never waited on it: statements run as usual.
        shop.run(switchboard::Execute::sql("SELECT 1"))
            .await
            .unwrap();
        drop(stalled);
        console.stop().await;
    });
}

#[test]
fn a_client_that_goes_away_is_forgotten_even_when_nothing_happens() {
    run(async {
        let shop = pool("shop").await;
        let console = serve(&[&shop], |b| b.keep_alive(Duration::from_millis(50)));
        let addr = console.local_addr();
        // Blocking reads: off the System's thread, which serves the console too.
        let client = actix_rt::task::spawn_blocking(move || {
            let mut client = open_stream(addr);
            // An idle stream still sends keep-alive comments.
            let mut buf = [0u8; 64];
            let mut seen = String::new();
            while !seen.contains(": keep-alive") {
                let n = client.read(&mut buf).unwrap();
                assert!(n > 0);
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
            client
        })
        .await
        .unwrap();
        assert_eq!(console.stats().stream.clients, 1);
        drop(client);
        eventually("the client was forgotten", WAIT, || {
            console.stats().stream.clients == 0
        })
        .await;
        console.stop().await;
    });
}

#[test]
fn a_port_in_use_is_a_clear_error_from_start() {
    run(async {
        let shop = pool("shop").await;
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = Console::builder()
            .listen(addr.to_string())
            .watch(&shop)
            .start()
            .unwrap_err();
        match &err {
            Error::Listen { addr: a, source } => {
                assert_eq!(*a, addr);
                assert_eq!(source.kind(), std::io::ErrorKind::AddrInUse);
            }
            other => panic!("expected Error::Listen, got {other:?}"),
        }
        assert!(
            err.to_string().contains(&addr.to_string()) && err.to_string().contains("port"),
            "{err}"
        );

        let err = Console::builder()
            .listen("not an address")
            .watch(&shop)
            .start()
            .unwrap_err();
        assert!(matches!(err, Error::BadAddress { .. }), "{err:?}");
        let err = Console::builder()
            .listen("127.0.0.1:0")
            .start()
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let err = Console::builder()
            .watch(&shop)
            .watch(&shop)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("two watched pools"), "{err}");
        let err = Console::builder()
            .watch(&shop)
            .token("short")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("16"), "{err}");
        let err = Console::builder()
            .watch(&shop)
            .max_clients(0)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("max_clients"), "{err}");
    });
}

#[test]
fn start_outside_a_runtime_says_where_to_call_it() {
    let shop = actix::System::new().block_on(pool("shop"));
    let err = Console::builder()
        .listen("127.0.0.1:0")
        .watch(&shop)
        .start()
        .unwrap_err();
    assert!(matches!(err, Error::NoRuntime), "{err:?}");
}

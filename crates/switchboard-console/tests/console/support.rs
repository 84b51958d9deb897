//! Pools, consoles and requests for the tests.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::{App, test};
use bytes::Bytes;
use serde_json::Value;
use switchboard::{Event, Switchboard};
use switchboard_console::{Console, ConsoleBuilder, ConsoleService};

/// A bind value no response may contain.
pub const BIND_SENTINEL: &str = "Bind-Sentinel-7d41c";
/// A password no response may contain.
pub const PASSWORD_SENTINEL: &str = "Pw-Sentinel-93be0";
/// A token for tests (16 characters at least).
pub const READ_TOKEN: &str = "read-token-0123456789";
pub const ACT_TOKEN: &str = "act-token-0123456789";

/// Runs a test body in an actix System of its own.
pub fn run<F: Future<Output = ()>>(f: F) {
    actix::System::new().block_on(f);
}

/// A `sqlite::memory:` pool named `name` with one connection.
pub async fn pool(name: &str) -> Switchboard {
    pool_with(Switchboard::builder("sqlite::memory:").name(name)).await
}

pub async fn pool_with(builder: switchboard::Builder) -> Switchboard {
    builder.pool_size(1..=1).start().await.unwrap()
}

/// A console on `pools`, built by `configure`.
pub fn service(
    pools: &[&Switchboard],
    configure: impl FnOnce(ConsoleBuilder) -> ConsoleBuilder,
) -> ConsoleService {
    let mut builder = Console::builder();
    for p in pools {
        builder = builder.watch(p);
    }
    configure(builder).build().unwrap()
}

/// The test service for a console.
pub async fn app(
    service: &ConsoleService,
) -> impl Service<actix_http::Request, Response = ServiceResponse<BoxBody>, Error = actix_web::Error>
{
    let service = service.clone();
    test::init_service(App::new().configure(move |cfg| service.configure(cfg))).await
}

/// Status and JSON body of a response.
pub async fn json(resp: ServiceResponse<BoxBody>) -> (u16, Value) {
    let status = resp.status().as_u16();
    let body = test::read_body(resp).await;
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, value)
}

/// The total of one series (`ok`, `error`, `denied`) of an
/// `/api/pools/{name}/activity` body, over its window.
pub fn series_total(activity: &Value, series: &str) -> u64 {
    activity["series"][series]
        .as_array()
        .unwrap_or_else(|| panic!("no series {series} in {activity}"))
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum()
}

/// The next chunk of a streaming body, or `None` if none comes within
/// `within` (or the body ended).
pub async fn chunk(body: &mut BoxBody, within: Duration) -> Option<Bytes> {
    let next = std::future::poll_fn(|cx| Pin::new(&mut *body).poll_next(cx));
    match actix_rt::time::timeout(within, next).await {
        Ok(Some(Ok(bytes))) => Some(bytes),
        _ => None,
    }
}

/// One SSE frame: its fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Frame {
    pub id: Option<u64>,
    pub event: Option<String>,
    pub data: String,
    pub retry: Option<u64>,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("{e}: {}", self.data))
    }
}

/// Reads a stream's frames, checking the framing as it goes.
pub struct Frames {
    body: BoxBody,
    buf: String,
}

impl Frames {
    pub fn new(resp: ServiceResponse<BoxBody>) -> Frames {
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap()),
            Some("text/event-stream")
        );
        Frames {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    /// The next frame (comments skipped), or `None` within `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Frame> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut frame = Frame::default();
                let mut any = false;
                for line in block.trim_end_matches('\n').split('\n') {
                    if line.starts_with(':') {
                        continue;
                    }
                    let (field, value) = line
                        .split_once(": ")
                        .unwrap_or_else(|| panic!("bad SSE line {line:?}"));
                    any = true;
                    match field {
                        "id" => frame.id = Some(value.parse().unwrap()),
                        "event" => frame.event = Some(value.to_owned()),
                        "data" => {
                            assert!(frame.data.is_empty(), "one data line per frame: {block:?}");
                            frame.data = value.to_owned();
                        }
                        "retry" => frame.retry = Some(value.parse().unwrap()),
                        other => panic!("unknown SSE field {other:?}"),
                    }
                }
                if any {
                    return Some(frame);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let bytes = chunk(&mut self.body, left).await?;
            self.buf.push_str(std::str::from_utf8(&bytes).unwrap());
        }
    }

    /// Frames until `count` of them are events (`data` without `event`),
    /// or the deadline.
    pub async fn events(&mut self, count: usize, within: Duration) -> Vec<Frame> {
        self.matching(count, within, |f| f.event.is_none() && f.retry.is_none())
            .await
    }

    /// Frames until `count` of them match `want`, or the deadline.
    pub async fn matching(
        &mut self,
        count: usize,
        within: Duration,
        want: impl Fn(&Frame) -> bool,
    ) -> Vec<Frame> {
        let deadline = Instant::now() + within;
        let mut out: Vec<Frame> = Vec::new();
        while out.iter().filter(|f| want(f)).count() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left).await {
                Some(f) => out.push(f),
                None => break,
            }
        }
        out
    }
}

/// A test event, as JSON, published on `pool`'s bus.
pub fn publish(pool: &Switchboard, json: &str) {
    let event = Event::from_json(json).unwrap();
    pool.bus().publish(&event);
}

/// A `ShadowDenied` of `pool` with `reason`, labelled `tenant=<tenant>`.
pub fn shadow(pool: &Switchboard, connection: u64, tenant: &str, reason: &str) -> String {
    format!(
        r#"{{"id":1,"at":"{}","pool":"{}","connection":{connection},"seq":1,"backend":"sqlite","labels":{{"tenant":"{tenant}"}},"kind":"ShadowDenied","query_id":9,"guard":"test","reason":"{reason}"}}"#,
        chrono::Utc::now().to_rfc3339(),
        pool.name()
    )
}

/// Polls `condition` until it holds, failing after `within`.
pub async fn eventually(what: &str, within: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        actix_rt::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A real console on 127.0.0.1:0.
pub fn serve(
    pools: &[&Switchboard],
    configure: impl FnOnce(ConsoleBuilder) -> ConsoleBuilder,
) -> Console {
    let mut builder = Console::builder().listen("127.0.0.1:0");
    for p in pools {
        builder = builder.watch(p);
    }
    configure(builder).start().unwrap()
}

/// Opens `/api/events` on a real console and reads the response head.
pub fn open_stream(addr: SocketAddr) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(
        b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n",
    )
    .unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        conn.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    conn
}

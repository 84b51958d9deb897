//! Helpers shared by this crate's tests: capturing `tracing` output,
//! waiting for a subscriber to catch up, scraping over HTTP.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use switchboard_core::Subscription;
use tracing::{Dispatch, Level};
use tracing_subscriber::fmt::MakeWriter;

/// Collects everything a `tracing-subscriber` fmt layer writes.
#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

/// One write into a [`Capture`].
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> CaptureWriter {
        CaptureWriter(self.0.clone())
    }
}

impl Capture {
    /// A dispatcher printing lines up to `level` (no timestamps) into this
    /// capture: `LEVEL target: message field=value ...`.
    pub fn dispatch(&self, level: Level) -> Dispatch {
        Dispatch::new(
            tracing_subscriber::fmt()
                .with_writer(self.clone())
                .with_max_level(level)
                .without_time()
                .finish(),
        )
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock()).into_owned()
    }

    /// The lines containing `needle`.
    pub fn lines_with(&self, needle: &str) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    }
}

/// Waits (at most 10 s) until the subscriber has handled everything queued
/// for it.
pub fn caught_up(attached: &Subscription) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while attached.stats().is_some_and(|s| s.queued > 0) {
        assert!(Instant::now() < deadline, "subscriber never caught up");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `GET path` over a plain TCP connection; the response body.
pub fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

/// The value of the sample `name{labels}` whose labels include all of
/// `want` (`key="value"` pairs), summed over the samples that match.
pub fn sample(exposition: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && want
                    .iter()
                    .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\""))))
            .then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

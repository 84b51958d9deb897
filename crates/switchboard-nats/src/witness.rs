//! [`NatsWitness`]: an audit log's checkpoints kept in a JetStream stream,
//! out of reach of whoever administers the log's host.
//!
//! Each checkpoint of the log `<base>` is one message on
//! `<prefix>.<base>`, with the `Nats-Msg-Id` `<base>:<seq>`, so a resend
//! after a lost acknowledgement is stored once. The audit log calls it from
//! a witness thread of its own; its client runs on a small runtime with a
//! thread of its own, so neither waits on the other's executor.

use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, consumer, stream::LastRawMessageErrorKind};
use futures_util::StreamExt;
use switchboard_audit::{SignedCheckpoint, Witness, WitnessError};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::error::{NatsError, Result};
use crate::stream::StreamSettings;
use crate::subject::token;

/// Keeps an audit log's checkpoints in a JetStream stream.
pub struct NatsWitness {
    url: String,
    stream: StreamSettings,
    prefix: String,
    /// How long one request (a publish and its acknowledgement) may take.
    timeout: Duration,
    js: jetstream::Context,
    /// The runtime the client runs on.
    handle: Handle,
    /// Whether the stream was created or checked (once per witness).
    ensured: AtomicBool,
    /// Drives the runtime; stopped and joined on drop.
    driver: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl std::fmt::Debug for NatsWitness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl NatsWitness {
    /// A witness publishing to `<prefix>.<log>` in `stream` on the server
    /// at `url`. Connects in the background (a server that is down makes
    /// the witness down, caught up once it is back); fails only on an
    /// unusable address or settings. Callable from async code: it does not
    /// wait for the server.
    pub fn new(url: &str, stream: StreamSettings, prefix: &str) -> Result<NatsWitness> {
        stream.validate()?;
        if prefix.is_empty() || prefix.contains(['*', '>', ' ']) {
            return Err(NatsError::Config(format!(
                "witness subject prefix {prefix:?} must be a plain subject"
            )));
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| NatsError::Config(format!("no runtime for the witness: {e}")))?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let (client_tx, client_rx) = std::sync::mpsc::channel();
        let address = url.to_owned();
        let thread = std::thread::Builder::new()
            .name("sb-nats-witness".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let client = crate::link::connect(
                        &address,
                        "switchboard-audit-witness",
                        crate::link::default_backoff(),
                        Duration::from_secs(5),
                        std::sync::Arc::new(|_| {}),
                    )
                    .await
                    .map(jetstream::new);
                    drop(client_tx.send(client));
                    // Runs the client's tasks until the witness is dropped.
                    drop(stopped.await);
                });
            })
            .map_err(|e| NatsError::Config(format!("no thread for the witness: {e}")))?;
        let js = client_rx
            .recv()
            .map_err(|_| NatsError::Config("the witness's runtime stopped".into()))??;
        Ok(NatsWitness {
            url: url.to_owned(),
            stream,
            prefix: prefix.to_owned(),
            timeout: Duration::from_secs(5),
            js,
            handle,
            ensured: AtomicBool::new(false),
            driver: Some((stop, thread)),
        })
    }

    /// How long one request may take before it counts as failed (default
    /// 5 s).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn subject(&self, log: &str) -> String {
        format!("{}.{}", self.prefix, token(log))
    }

    /// Runs `f` on the witness's runtime, within the timeout; first
    /// creates or checks the stream when `ensure` (the log's side: a
    /// verifier only reads what is there).
    fn run<T>(
        &self,
        what: &str,
        ensure: bool,
        f: impl std::future::Future<Output = std::result::Result<T, String>>,
    ) -> std::result::Result<T, WitnessError> {
        let timeout = self.timeout;
        let ensure = async {
            if ensure && !self.ensured.load(Ordering::Acquire) {
                self.stream
                    .ensure(&self.js)
                    .await
                    .map_err(|e| e.to_string())?;
                self.ensured.store(true, Ordering::Release);
            }
            f.await
        };
        match self
            .handle
            .block_on(async { tokio::time::timeout(timeout, ensure).await })
        {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(WitnessError::new(format!(
                "{}: {what}: {e}",
                self.describe()
            ))),
            Err(_) => Err(WitnessError::new(format!(
                "{}: {what}: no answer within {timeout:?}",
                self.describe()
            ))),
        }
    }

    /// Every checkpoint line it holds for the log `log`, oldest first: what
    /// a verifier compares with the log's own (see
    /// `switchboard_audit::VerifyOptions::witness_lines`). Blocks: call it
    /// from a plain thread, not from async code.
    pub fn read(&self, log: &str) -> std::result::Result<Vec<Vec<u8>>, WitnessError> {
        let Some(last) = self.last(log, false)? else {
            return Ok(Vec::new());
        };
        let subject = self.subject(log);
        self.run("read", false, async {
            let stream = self
                .js
                .get_stream_no_info(&self.stream.name)
                .await
                .map_err(|e| e.to_string())?;
            let consumer = stream
                .create_consumer(consumer::pull::Config {
                    ack_policy: consumer::AckPolicy::None,
                    filter_subject: subject,
                    ..Default::default()
                })
                .await
                .map_err(|e| e.to_string())?;
            let mut messages = consumer.messages().await.map_err(|e| e.to_string())?;
            let mut lines = Vec::new();
            while let Some(message) = messages.next().await {
                let payload = message.map_err(|e| e.to_string())?.payload.to_vec();
                let seq = SignedCheckpoint::parse(&payload).map(|c| c.checkpoint.seq);
                lines.push(payload);
                if seq.is_ok_and(|s| s >= last) {
                    break;
                }
            }
            Ok(lines)
        })
    }

    /// The `seq` of the newest checkpoint held for `log`.
    fn last(&self, log: &str, ensure: bool) -> std::result::Result<Option<u64>, WitnessError> {
        let subject = self.subject(log);
        self.run("latest", ensure, async {
            let stream = self
                .js
                .get_stream_no_info(&self.stream.name)
                .await
                .map_err(|e| e.to_string())?;
            match stream.get_last_raw_message_by_subject(&subject).await {
                Ok(message) => SignedCheckpoint::parse(&message.payload)
                    .map(|c| Some(c.checkpoint.seq))
                    .map_err(|e| format!("its last message is not a checkpoint: {e:?}")),
                Err(e) if e.kind() == LastRawMessageErrorKind::NoMessageFound => Ok(None),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

impl Witness for NatsWitness {
    fn describe(&self) -> String {
        format!(
            "nats {} stream {} subject {}.*",
            self.url, self.stream.name, self.prefix
        )
    }

    fn latest(&self, log: &str) -> std::result::Result<Option<u64>, WitnessError> {
        self.last(log, true)
    }

    fn keep(&self, log: &str, seq: u64, line: &[u8]) -> std::result::Result<(), WitnessError> {
        let subject = self.subject(log);
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("{log}:{seq}").as_str());
        let payload = bytes::Bytes::copy_from_slice(line);
        self.run("publish", true, async {
            let ack = self
                .js
                .publish_with_headers(subject, headers, payload)
                .await
                .map_err(|e| e.to_string())?;
            ack.await.map(drop).map_err(|e| e.to_string())
        })
    }
}

impl Drop for NatsWitness {
    fn drop(&mut self) {
        if let Some((stop, thread)) = self.driver.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

//! The exporter's thread: takes batches from the local buffer, publishes
//! them to JetStream and waits for every ack before taking the next batch,
//! retrying unacknowledged publishes (same `Nats-Msg-Id`) until they are
//! acknowledged or the exporter is abandoned at close.

use std::sync::{Arc, OnceLock};

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage};
use async_nats::{Client, HeaderMap};
use bytes::Bytes;
use switchboard_core::Event;
use tokio::sync::{mpsc, oneshot, watch};

use super::config::ExporterConfig;
use super::stats::{ACKED, Counters, DUPLICATES, PUBLISHED, REORDERED, RETRIES};
use crate::error::{NatsError, Result};
use crate::link::{LinkState, connect};
use crate::subject::{INSTANCE_HEADER, SERVICE_HEADER, instance, msg_id, subject, token};

/// Everything the thread owns.
pub(crate) struct Publisher {
    pub config: Arc<ExporterConfig>,
    /// The local buffer's receiving end; closed when the exporter detaches
    /// from every bus and drops its sender.
    pub events: mpsc::Receiver<Event>,
    pub counters: Arc<Counters>,
    /// Acknowledged plus abandoned events, for `flush` to wait on.
    pub settled: watch::Sender<u64>,
    /// Set by `close` when the time to drain is up.
    pub abandon: watch::Receiver<bool>,
    /// Answers `start`: the stream is ready, or cannot be used.
    pub ready: Option<oneshot::Sender<Result<()>>>,
    /// The client, for `force_reconnect`.
    pub client: Arc<OnceLock<Client>>,
}

/// One event ready to publish: built once, sent again as is on a retry.
struct Outgoing {
    subject: String,
    payload: Bytes,
    headers: HeaderMap,
    /// A later publish of the same attempt was acknowledged while this one
    /// was not: if this one was really lost, it lands after that one.
    overtaken: bool,
}

enum Settled {
    Acked,
    Abandoned(u64),
}

impl Publisher {
    /// Runs on the exporter's thread until the buffer is closed and drained,
    /// or the exporter is abandoned.
    pub fn run(mut self) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match runtime {
            Ok(rt) => rt.block_on(self.main()),
            Err(e) => {
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(NatsError::Config(format!(
                        "cannot start a runtime for the exporter: {e}"
                    ))));
                }
            }
        }
        self.counters.set_state(LinkState::Closed);
    }

    async fn main(&mut self) {
        let counters = self.counters.clone();
        let on_link = Arc::new(move |state| counters.set_state(state));
        let name = format!("switchboard-exporter-{}", self.config.service);
        let client = match connect(
            &self.config.url,
            &name,
            self.config.backoff,
            self.config.connect_timeout,
            on_link,
        )
        .await
        {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(service = %self.config.service, "NATS exporter cannot start: {e}");
                if let Some(ready) = self.ready.take() {
                    let _ = ready.send(Err(e));
                }
                return;
            }
        };
        let _ = self.client.set(client.clone());
        let js = jetstream::context::ContextBuilder::new()
            .timeout(self.config.ack_timeout)
            .max_ack_inflight(self.config.max_in_flight)
            .backpressure_on_inflight(true)
            .build(client.clone());
        if !self.ensure_stream(&js).await {
            return;
        }
        let service = token(&self.config.service);
        let mut batch = Vec::with_capacity(self.config.max_in_flight);
        loop {
            let first = tokio::select! {
                event = self.events.recv() => event,
                _ = self.abandon.wait_for(|a| *a) => None,
            };
            let Some(first) = first else { break };
            batch.push(first);
            while batch.len() < self.config.max_in_flight {
                match self.events.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            let outgoing = batch
                .drain(..)
                .map(|e| self.outgoing(&service, &e))
                .collect();
            if let Settled::Abandoned(n) = self.export(&js, &client, outgoing).await {
                self.give_up(n);
                return;
            }
        }
        if *self.abandon.borrow() {
            self.give_up(0);
        }
        // Acks of what was sent are in; let the client write anything left.
        let _ = client.flush().await;
    }

    /// Creates or checks the stream, retrying while the server is away.
    /// Returns false when the exporter should stop (abandoned, or a stream
    /// mismatch reported to `start`).
    async fn ensure_stream(&mut self, js: &jetstream::Context) -> bool {
        let mut attempt = 0;
        loop {
            let config = self.config.clone();
            let ensured = tokio::select! {
                ensured = config.stream.ensure(js) => Some(ensured),
                _ = self.abandon.wait_for(|a| *a) => None,
            };
            let Some(ensured) = ensured else {
                self.give_up(0);
                return false;
            };
            match ensured {
                Ok(()) => {
                    if let Some(ready) = self.ready.take() {
                        let _ = ready.send(Ok(()));
                    }
                    return true;
                }
                Err(e) => {
                    let fatal = matches!(e, NatsError::StreamMismatch { .. });
                    tracing::error!(service = %self.config.service, "NATS exporter: {e}");
                    *self.counters.last_error.lock() = Some(e.to_string());
                    if fatal && let Some(ready) = self.ready.take() {
                        let _ = ready.send(Err(e));
                        return false;
                    }
                }
            }
            if !self.pause(attempt).await {
                self.give_up(0);
                return false;
            }
            attempt += 1;
        }
    }

    fn outgoing(&self, service: &str, event: &Event) -> Outgoing {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id(&self.config.service, event).as_str());
        headers.insert(SERVICE_HEADER, self.config.service.as_str());
        headers.insert(INSTANCE_HEADER, instance());
        Outgoing {
            subject: subject(&self.config.subject_prefix, service, event),
            payload: Bytes::from(event.to_json()),
            headers,
            overtaken: false,
        }
    }

    /// Publishes one batch and retries what is not acknowledged, until all
    /// of it is, or the exporter is abandoned.
    async fn export(
        &mut self,
        js: &jetstream::Context,
        client: &Client,
        mut pending: Vec<Outgoing>,
    ) -> Settled {
        let mut attempt = 0;
        loop {
            // While disconnected, sending would only pile copies into the
            // client's queue; wait for the connection instead.
            if client.connection_state() == async_nats::connection::State::Connected {
                pending = self.attempt(js, pending).await;
                if pending.is_empty() {
                    return Settled::Acked;
                }
            }
            if !self.pause(attempt).await {
                return Settled::Abandoned(pending.len() as u64);
            }
            attempt += 1;
        }
    }

    /// Sends every publish, then awaits all acks together. Returns the ones
    /// to retry, in order.
    async fn attempt(&mut self, js: &jetstream::Context, pending: Vec<Outgoing>) -> Vec<Outgoing> {
        let mut acks = Vec::with_capacity(pending.len());
        let mut send_error = None;
        for out in &pending {
            if send_error.is_some() {
                break;
            }
            let message = PublishMessage::build()
                .payload(out.payload.clone())
                .headers(out.headers.clone());
            match js.send_publish(out.subject.clone(), message).await {
                Ok(ack) => acks.push(ack),
                Err(e) => send_error = Some(e),
            }
        }
        self.counters
            .add(&self.counters.published, PUBLISHED, acks.len() as u64);
        let results =
            futures_util::future::join_all(acks.into_iter().map(|a| a.into_future())).await;
        let mut retry: Vec<Outgoing> = Vec::new();
        let (mut acked, mut duplicates, mut reordered) = (0, 0, 0);
        let mut error = send_error.map(|e| e.to_string());
        let mut stream_missing = false;
        let mut outs = pending.into_iter();
        for result in results {
            let Some(out) = outs.next() else { break };
            match result {
                Ok(ack) => {
                    acked += 1;
                    duplicates += u64::from(ack.duplicate);
                    reordered += u64::from(out.overtaken && !ack.duplicate);
                    for earlier in &mut retry {
                        earlier.overtaken = true;
                    }
                }
                Err(e) => {
                    stream_missing |= e.kind() == PublishErrorKind::StreamNotFound;
                    error = Some(e.to_string());
                    retry.push(out);
                }
            }
        }
        retry.extend(outs);
        let c = &self.counters;
        c.add(&c.acked, ACKED, acked);
        c.add(&c.duplicates, DUPLICATES, duplicates);
        c.add(&c.reordered, REORDERED, reordered);
        if reordered > 0 {
            tracing::warn!(service = %c.service, reordered, "events reached the stream after later ones (lost with a dropped connection, then retried)");
        }
        self.settled.send_modify(|s| *s += acked);
        c.update_buffered_gauge();
        if !retry.is_empty() {
            c.add(&c.retries, RETRIES, retry.len() as u64);
            let error = error.unwrap_or_default();
            tracing::warn!(
                service = %c.service,
                unacknowledged = retry.len(),
                buffered = c.pending(),
                %error,
                "NATS did not acknowledge every publish; retrying with the same message ids"
            );
            *c.last_error.lock() = Some(error);
            if stream_missing {
                let _ = self.config.stream.ensure(js).await;
            }
        }
        retry
    }

    /// Sleeps the backoff for `attempt`; false if abandoned meanwhile.
    async fn pause(&mut self, attempt: u32) -> bool {
        // `attempt` counts from 0; the backoff counts failures from 1.
        let delay = self.config.backoff.delay(attempt.saturating_add(1));
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = self.abandon.wait_for(|a| *a) => false,
        }
    }

    /// Counts every event not acknowledged as abandoned: `in_hand` taken
    /// from the buffer, plus what is still in it.
    fn give_up(&mut self, in_hand: u64) {
        self.events.close();
        let mut left = in_hand;
        while self.events.try_recv().is_ok() {
            left += 1;
        }
        if left > 0 {
            let c = &self.counters;
            c.dropped(&c.abandoned, "abandoned", left);
            self.settled.send_modify(|s| *s += left);
            tracing::error!(
                service = %c.service,
                abandoned = left,
                "NATS exporter closed with events never acknowledged by NATS; they are not in the stream"
            );
        }
    }
}

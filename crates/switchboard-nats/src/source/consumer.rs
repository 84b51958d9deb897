//! The source's thread: pulls from a durable consumer, hands each batch to
//! the local bus, confirms it, and only then acknowledges it to NATS.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_nats::jetstream::{self, AckKind, consumer::pull, message::Message};
use futures_util::{FutureExt, StreamExt};
use switchboard_core::{Bus, Event};
use tokio::sync::{oneshot, watch};

use super::config::SourceConfig;
use super::dedup::Recent;
use super::stats::Counters;
use crate::error::{NatsError, Result};
use crate::link::{LinkState, connect};
use crate::subject::SERVICE_HEADER;

/// Everything the thread owns.
pub(crate) struct Consumer {
    pub config: SourceConfig,
    pub bus: Bus,
    pub counters: Arc<Counters>,
    /// Set by `close`: finish the batch in hand, then stop.
    pub stop: watch::Receiver<bool>,
    /// Answers `start`: consuming, or why not.
    pub ready: Option<oneshot::Sender<Result<()>>>,
}

impl Consumer {
    pub fn run(mut self) {
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt.block_on(self.main()),
            Err(e) => self.answer(Err(NatsError::Config(format!(
                "cannot start a runtime for the source: {e}"
            )))),
        }
        self.counters.set_state(LinkState::Closed);
    }

    fn answer(&mut self, result: Result<()>) {
        if let Some(ready) = self.ready.take() {
            let _ = ready.send(result);
        }
    }

    async fn main(&mut self) {
        let counters = self.counters.clone();
        let on_link = Arc::new(move |state| counters.set_state(state));
        let name = format!("switchboard-source-{}", self.config.durable);
        let client = match connect(
            &self.config.url,
            &name,
            self.config.backoff,
            self.config.connect_timeout,
            on_link,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => return self.answer(Err(e)),
        };
        let js = jetstream::new(client.clone());
        let mut recent = Recent::new(self.config.dedup_window);
        let mut attempt = 0;
        while !*self.stop.borrow() {
            let messages = match self.open(&js).await {
                Ok(messages) => {
                    self.answer(Ok(()));
                    attempt = 0;
                    messages
                }
                Err(e) => {
                    tracing::error!(durable = %self.config.durable, "NATS source: {e}");
                    *self.counters.last_error.lock() = Some(e.to_string());
                    if matches!(e, NatsError::StreamMismatch { .. }) && self.ready.is_some() {
                        return self.answer(Err(e));
                    }
                    self.pause(attempt).await;
                    attempt += 1;
                    continue;
                }
            };
            self.consume(messages, &mut recent).await;
        }
        let _ = client.flush().await;
    }

    /// Creates or checks the stream and the durable consumer, and opens its
    /// message stream.
    async fn open(&self, js: &jetstream::Context) -> Result<pull::Stream> {
        let c = &self.config;
        c.stream.ensure(js).await?;
        let failed = |what, e: &dyn std::fmt::Display| NatsError::JetStream {
            what,
            stream: c.stream.name.clone(),
            message: e.to_string(),
        };
        let stream = js
            .get_stream(&c.stream.name)
            .await
            .map_err(|e| failed("get stream", &e))?;
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &c.durable,
                pull::Config {
                    durable_name: Some(c.durable.clone()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: c.ack_wait,
                    max_ack_pending: i64::try_from(c.max_ack_pending).unwrap_or(i64::MAX),
                    filter_subject: c.filter_subject.clone().unwrap_or_default(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| failed("create consumer", &e))?;
        consumer
            .stream()
            .max_messages_per_batch(c.batch)
            .messages()
            .await
            .map_err(|e| failed("pull", &e))
    }

    /// Delivers batches until the message stream ends or `close` asks.
    async fn consume(&mut self, mut messages: pull::Stream, recent: &mut Recent) {
        let mut batch = Vec::with_capacity(self.config.batch);
        loop {
            let next = tokio::select! {
                next = messages.next() => next,
                _ = self.stop.wait_for(|s| *s) => return,
            };
            match next {
                Some(Ok(message)) => batch.push(message),
                Some(Err(e)) => {
                    // Missed heartbeats during an outage: the stream goes on
                    // pulling once the client is back.
                    tracing::warn!(durable = %self.config.durable, "NATS source: {e}");
                    *self.counters.last_error.lock() = Some(e.to_string());
                    if e.kind() == pull::MessagesErrorKind::ConsumerDeleted {
                        return;
                    }
                    continue;
                }
                None => return,
            }
            while batch.len() < self.config.batch {
                match messages.next().now_or_never() {
                    Some(Some(Ok(message))) => batch.push(message),
                    _ => break,
                }
            }
            self.deliver(&mut batch, recent).await;
        }
    }

    /// Hands the batch to the bus, confirms, acknowledges.
    async fn deliver(&mut self, batch: &mut Vec<Message>, recent: &mut Recent) {
        let c = self.counters.clone();
        c.received.fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut delivered = 0;
        let mut duplicates = 0;
        for message in batch.iter() {
            match self.decode(message) {
                Some((id, event)) => {
                    if id.as_deref().is_none_or(|id| recent.insert(id)) {
                        self.bus.publish(&event);
                        delivered += 1;
                    } else {
                        duplicates += 1;
                    }
                }
                None => {
                    c.skipped(&c.undecodable, "undecodable", 1);
                    let _ = message.ack_with(AckKind::Term).await;
                }
            }
        }
        c.skipped(&c.duplicates, "duplicate", duplicates);
        let mut attempt = 0;
        while let Err(e) = self.confirm().await {
            tracing::error!(
                durable = %self.config.durable,
                events = batch.len(),
                "NATS source: local subscribers did not confirm the batch ({e}); not acknowledging it, retrying"
            );
            *c.last_error.lock() = Some(e);
            if *self.stop.borrow() {
                tracing::error!(durable = %self.config.durable, events = batch.len(), "NATS source closing with an unconfirmed batch; the server redelivers it to the next start");
                batch.clear();
                return;
            }
            self.pause(attempt).await;
            attempt += 1;
        }
        c.delivered(delivered);
        for message in batch.drain(..) {
            if let Err(e) = message.ack().await {
                tracing::warn!(durable = %self.config.durable, "NATS source: ack failed ({e}); the server will redeliver, and the copy will be skipped");
            } else {
                c.acked.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The bus's lossless subscribers have everything, and every confirm
    /// hook agrees, within `confirm_within`.
    async fn confirm(&self) -> Result<(), String> {
        let within = self.config.confirm_within;
        let all = async {
            self.bus.flush(within).await.map_err(|e| e.to_string())?;
            for confirm in &self.config.confirms {
                confirm().await?;
            }
            Ok(())
        };
        match tokio::time::timeout(within, all).await {
            Ok(result) => result,
            Err(_) => Err(format!("not confirmed within {within:?}")),
        }
    }

    /// The event and its message id, with the service label added.
    fn decode(&self, message: &Message) -> Option<(Option<String>, Event)> {
        let headers = message.headers.as_ref();
        let header = |name: &str| {
            headers
                .and_then(|h| h.get(name))
                .map(|v| v.as_str().to_owned())
        };
        let parsed = std::str::from_utf8(&message.payload)
            .map_err(|e| e.to_string())
            .and_then(|text| Event::from_json(text).map_err(|e| e.to_string()));
        let event = match parsed {
            Ok(event) => event,
            Err(e) => {
                tracing::error!(
                    durable = %self.config.durable,
                    subject = %message.subject,
                    "NATS source: not a Switchboard event ({e}); terminated, not redelivered"
                );
                return None;
            }
        };
        let event = match (&self.config.service_label, header(SERVICE_HEADER)) {
            (Some(key), Some(service)) if event.meta().labels.get(key).is_none() => {
                let mut meta = event.meta().clone();
                meta.labels = meta.labels.clone().with(key.clone(), service);
                Event::new(meta, event.payload().clone())
            }
            _ => event,
        };
        Some((header("Nats-Msg-Id"), event))
    }

    async fn pause(&mut self, attempt: u32) {
        // `attempt` counts from 0; the backoff counts failures from 1.
        let delay = self.config.backoff.delay(attempt.saturating_add(1));
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            _ = self.stop.wait_for(|s| *s) => {}
        }
    }
}

//! Stamps and publishes the events of one connection.

use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use parking_lot::{Mutex, MutexGuard};

use crate::bus::{Bus, Route};
use crate::event::{Backend, ConnectionId, ErrorInfo, Event, Labels, Meta, Payload, event_ids};
use crate::status::{ConnectionState, ConnectionStatus, CurrentStatement};

/// Publishes events for one connection with gap-free sequence numbers, and
/// keeps what they say about the connection for its status.
///
/// Shared (`Arc`) between a connection actor, the diesel instrumentation of
/// its driver connection (which may report from a blocking thread) and the
/// manager (leak warnings). Numbering and publishing happen under one lock,
/// so events of one connection reach every queue in sequence order.
#[derive(Debug)]
pub struct Emitter {
    bus: Bus,
    pool: Arc<str>,
    backend: Backend,
    connection: ConnectionId,
    opened: Instant,
    state: Mutex<Track>,
}

/// What the connection's events said so far.
#[derive(Debug, Default)]
struct Track {
    seq: u64,
    /// Labels of the work under way, stamped on every event it causes.
    labels: Labels,
    /// Loans under way: one for a caller that has the connection to itself,
    /// or one per pipelined statement sharing it.
    loans: u32,
    /// When the connection went from no loan to a loan.
    lent_since: Option<Instant>,
    leak_reported: bool,
    current: Option<(u64, Arc<str>, Instant)>,
    statements: u64,
    failures: u64,
    last_error: Option<ErrorInfo>,
    /// The subscriptions this connection's events may go to.
    route: Route,
    /// The metadata handed to taps for an event not made: its pool,
    /// connection and backend set once, the rest stamped per event (no
    /// reference count of the pool name written per event).
    tapped: Option<Meta>,
    clock: WallClock,
    /// The connection's block of event ids: the next, and the end.
    ids: (u64, u64),
}

/// Event ids a connection takes at a time: an atomic add on the process'
/// counter per block rather than per event, which was a noticeable share
/// of a tapped statement's four events.
const ID_BLOCK: u64 = 1024;

impl Track {
    /// The next event id, from the connection's block: unique in the
    /// process and increasing along the connection's events. Ids of
    /// different connections do not follow the order of publication.
    fn next_id(&mut self) -> u64 {
        let (next, end) = self.ids;
        if next < end {
            self.ids.0 += 1;
            return next;
        }
        let start = event_ids(ID_BLOCK);
        self.ids = (start + 1, start + ID_BLOCK);
        start
    }

    /// Notes `kind` and spends its sequence number: for every event,
    /// whether it is then made and published or (nobody listening) not,
    /// so that numbers stay per connection either way.
    fn count(&mut self, kind: &Payload, now: &mut Now) {
        self.note(kind, now);
        self.seq += 1;
    }

    /// Reads the clock only for the kinds that need it (and only if the
    /// publisher did not give its own reading): a clock read costs a
    /// noticeable share of a published event.
    fn note(&mut self, kind: &Payload, now: &mut Now) {
        match kind {
            Payload::CheckedOut { .. } => {
                if self.loans == 0 {
                    self.lent_since = Some(now.get());
                    self.leak_reported = false;
                }
                self.loans += 1;
            }
            Payload::CheckedIn { .. } => {
                self.loans = self.loans.saturating_sub(1);
                // Pipelined statements keep a busy connection lent without
                // a break; each one that ends restarts the clock, so a
                // steady stream of short statements is not taken for a
                // leak.
                self.lent_since = (self.loans > 0).then(|| now.get());
            }
            Payload::Executing { query_id, sql, .. } => {
                self.current = Some((*query_id, sql.clone(), now.get()));
            }
            Payload::Executed { .. } => {
                self.current = None;
                self.statements += 1;
            }
            Payload::ExecuteFailed { error, .. } => {
                self.current = None;
                self.statements += 1;
                self.failures += 1;
                self.last_error = Some(error.clone());
            }
            Payload::Denied { .. } => self.current = None,
            Payload::ConnectFailed { error, .. } | Payload::Invalidated { error } => {
                self.last_error = Some(error.clone());
            }
            _ => {}
        }
    }
}

/// The moment an event happened: the clock reading its publisher made
/// anyway (to time a statement or a loan), or one read at the first need.
/// One reading serves the connection's record and the event's stamp.
#[derive(Debug, Clone, Copy)]
struct Now(Option<Instant>);

impl Now {
    fn get(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }
}

/// The connection id of a pool's own emitter: connection ids start at 1.
const POOL: ConnectionId = 0;

impl Emitter {
    /// An emitter for one connection.
    pub fn new(bus: Bus, pool: Arc<str>, backend: Backend, connection: ConnectionId) -> Self {
        Emitter {
            bus,
            pool,
            backend,
            connection,
            opened: Instant::now(),
            state: Mutex::new(Track::default()),
        }
    }

    /// An emitter for the pool itself: its events (`PoolStarted`,
    /// `PoolStopped`, `CheckoutTimedOut`) carry no connection, and their
    /// sequence numbers count the pool's own events.
    pub fn for_pool(bus: Bus, pool: Arc<str>, backend: Backend) -> Self {
        Emitter::new(bus, pool, backend, POOL)
    }

    /// The bus events go to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The connection.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The pool name.
    pub fn pool(&self) -> &Arc<str> {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// How long since the emitter (the connection slot) was made.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Sets the labels of the work now under way.
    pub fn set_labels(&self, labels: Labels) {
        self.state.lock().labels = labels;
    }

    /// Stamps `kind` with the next sequence number and publishes it. When
    /// no subscription takes events of its kind ([`Bus::hears`]), the
    /// connection's own record (its status) and sequence are kept, and no
    /// event is made: none would be delivered.
    pub fn emit(&self, kind: Payload) {
        self.emit_with(kind, None, Now(None));
    }

    /// [`emit`](Self::emit) of an event that happened at `now`: a clock
    /// reading its publisher made anyway (the end of a loan it timed, say).
    /// The event is stamped from it, where it would read the clock again.
    pub fn emit_at(&self, kind: Payload, now: Instant) {
        self.emit_with(kind, None, Now(Some(now)));
    }

    /// [`emit`](Self::emit), returning the event published.
    pub fn publish(&self, kind: Payload) -> Event {
        self.publish_locked(&mut self.track(), kind, None, Now(None))
    }

    /// Publishes an event of one piece of work, stamped with that work's
    /// `labels` rather than the connection's: pipelined statements share a
    /// connection, each with labels of its own.
    pub fn publish_as(&self, kind: Payload, labels: &Labels) -> Event {
        self.publish_locked(&mut self.track(), kind, Some(labels), Now(None))
    }

    /// [`publish_as`](Self::publish_as) when some subscription takes
    /// events of this kind; otherwise (only [taps](crate::Tap), or nobody)
    /// [`emit_as`](Self::emit_as), and `None`: no event is made that no
    /// queue would hold. The event happened at `now` (as with
    /// [`emit_at`](Self::emit_at)).
    pub fn publish_queued_as(&self, kind: Payload, labels: &Labels, now: Instant) -> Option<Event> {
        self.publish_queued(kind, Some(labels), Now(Some(now)))
    }

    /// [`publish_as`](Self::publish_as) without the event (and, like
    /// [`emit`](Self::emit), without making one nobody would receive).
    pub fn emit_as(&self, kind: Payload, labels: &Labels) {
        self.emit_with(kind, Some(labels), Now(None));
    }

    /// [`emit_as`](Self::emit_as) of an event that happened at `now` (see
    /// [`emit_at`](Self::emit_at)).
    pub fn emit_as_at(&self, kind: Payload, labels: &Labels, now: Instant) {
        self.emit_with(kind, Some(labels), Now(Some(now)));
    }

    /// Notes `kind` for the connection's status and spends its sequence
    /// number, making and publishing nothing: for an event its publisher
    /// found nobody could receive (no subscription, and nothing such as a
    /// durability gate waiting on it), and that is costly to make. A
    /// subscription added meanwhile sees the connection's numbering go on
    /// from its next event, as if it had been added a moment later. The
    /// event happened at `now` (as with [`emit_at`](Self::emit_at)).
    pub fn count(&self, kind: Payload, now: Instant) {
        self.state.lock().count(&kind, &mut Now(Some(now)));
    }

    /// [`emit`](Self::emit) and [`emit_as`](Self::emit_as): the event is
    /// given back to the bus's spares once published (after the lock).
    fn emit_with(&self, kind: Payload, labels: Option<&Labels>, now: Now) {
        if let Some(event) = self.publish_queued(kind, labels, now) {
            self.bus.recycle(event);
        }
    }

    /// The event published, when some subscription takes its kind (the
    /// lock is released by the time it is returned); else counted, and
    /// tapped if a tap takes it.
    fn publish_queued(&self, kind: Payload, labels: Option<&Labels>, now: Now) -> Option<Event> {
        let mut track = self.track();
        if track.route.queues(kind.kind()) {
            return Some(self.publish_locked(&mut track, kind, labels, now));
        }
        self.count_and_tap(&mut track, kind, labels, now);
        None
    }

    /// The connection's record, locked, its route brought up to date: what
    /// every publishing path starts from.
    fn track(&self) -> MutexGuard<'_, Track> {
        let mut track = self.state.lock();
        self.bus.refresh(&self.pool, &mut track.route);
        track
    }

    /// Publishes from a record locked by [`track`](Self::track).
    fn publish_locked(
        &self,
        track: &mut Track,
        kind: Payload,
        labels: Option<&Labels>,
        mut now: Now,
    ) -> Event {
        track.count(&kind, &mut now);
        let at = track.clock.at(now.get());
        let id = track.next_id();
        let event = self.bus.make(self.meta(id, track, labels, at), kind);
        track.route.publish(&event);
        track.route.tap(event.meta(), event.payload());
        event
    }

    /// For an event no subscription takes: counted, and no event made;
    /// taps (if any take it) see it as it would have been stamped.
    fn count_and_tap(
        &self,
        track: &mut Track,
        kind: Payload,
        labels: Option<&Labels>,
        mut now: Now,
    ) {
        track.count(&kind, &mut now);
        if track.route.hears(kind.kind()) {
            let labels = labels.unwrap_or(&track.labels).clone();
            let at = track.clock.at(now.get());
            let id = track.next_id();
            let meta = track
                .tapped
                .get_or_insert_with(|| self.meta(id, &Track::default(), None, at));
            meta.id = id;
            meta.at = at;
            meta.seq = track.seq;
            meta.labels = labels;
            track.route.tap(meta, &kind);
        }
    }

    /// The metadata of the event just counted in `track`: `id`, stamped
    /// `at`.
    fn meta(&self, id: u64, track: &Track, labels: Option<&Labels>, at: DateTime<Utc>) -> Meta {
        Meta {
            id,
            at,
            pool: self.pool.clone(),
            connection: (self.connection != POOL).then_some(self.connection),
            seq: track.seq,
            backend: self.backend,
            labels: labels.unwrap_or(&track.labels).clone(),
        }
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.state.lock().seq
    }

    /// Publishes `LeakSuspected` if the connection has been lent out longer
    /// than `threshold` and this loan was not reported yet; returns how long
    /// it has been out, and the holder's labels, when it reports.
    pub fn report_leak(&self, threshold: Duration) -> Option<(Duration, Labels)> {
        let mut track = self.track();
        let held = track.lent_since?.elapsed();
        if held < threshold || track.leak_reported {
            return None;
        }
        track.leak_reported = true;
        self.publish_locked(&mut track, Payload::LeakSuspected { held }, None, Now(None));
        Some((held, track.labels.clone()))
    }

    /// The connection as its events describe it; `idle` says whether the
    /// manager holds it in its idle set.
    pub fn status(&self, idle: bool) -> ConnectionStatus {
        let track = self.state.lock();
        let now = Instant::now();
        let current = track
            .current
            .as_ref()
            .map(|(query_id, sql, since)| CurrentStatement {
                query_id: *query_id,
                sql: sql.clone(),
                running_for: now.saturating_duration_since(*since),
            });
        let state = if idle {
            ConnectionState::Idle
        } else if current.is_some() {
            ConnectionState::Running
        } else if track.lent_since.is_some() {
            ConnectionState::Lent
        } else {
            ConnectionState::Idle
        };
        ConnectionStatus {
            id: self.connection,
            state,
            age: now.saturating_duration_since(self.opened),
            statements: track.statements,
            failures: track.failures,
            last_error: track.last_error.clone(),
            lent_for: track.lent_since.map(|t| now.saturating_duration_since(t)),
            holder: if track.lent_since.is_some() {
                track.labels.clone()
            } else {
                Labels::new()
            },
            current,
        }
    }
}

/// Nanoseconds since the epoch, from the wall clock; `None` before 1970
/// (or after 2554). Read straight from `clock_gettime` (the vDSO) on Unix:
/// `SystemTime::now().duration_since(UNIX_EPOCH)` costs twice as much in
/// its checked arithmetic.
#[cfg(unix)]
fn since_epoch() -> Option<u64> {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    u64::try_from(now.tv_sec)
        .ok()?
        .checked_mul(NANOS)?
        .checked_add(u64::try_from(now.tv_nsec).ok()?)
}

#[cfg(not(unix))]
fn since_epoch() -> Option<u64> {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    u64::try_from(since.as_nanos()).ok()
}

const NANOS: u64 = 1_000_000_000;

/// How long a reading of both clocks is used to turn a monotonic reading
/// into wall-clock time before the clocks are read together again.
///
/// On Linux the monotonic clock (`Instant`) and the wall clock advance at
/// one rate (NTP's corrections slew both); they part only when the wall
/// clock is set or the machine sleeps, which a stamp follows within this.
const ANCHOR_FOR: Duration = Duration::from_millis(10);
const _: () = assert!(
    ANCHOR_FOR.as_secs() == 0,
    "`since_epoch_at` counts only its nanoseconds"
);

/// The wall clock, as `Utc::now()` reads it, for less.
///
/// - The calendar day (the costly part of turning seconds since the epoch
///   into a date) is computed once per day and connection, not per event.
/// - On Linux an event is stamped from the monotonic reading its publisher
///   made anyway (to time the statement or the loan, see
///   [`Emitter::emit_at`]), plus the wall clock's offset read at most
///   [`ANCHOR_FOR`] earlier: a clock read is a noticeable share of a
///   tapped event, and a statement has four events. Elsewhere (where the
///   monotonic clock may stop while the machine sleeps) the wall clock is
///   read for each.
///
/// Kept in the connection's record, under the lock every event takes
/// anyway.
#[derive(Debug)]
struct WallClock {
    /// The day (since the epoch) last read, and its date.
    today: Cell<(u64, NaiveDate)>,
    /// A monotonic reading and the wall clock (nanoseconds since the
    /// epoch) at that moment.
    anchor: Cell<Option<(Instant, u64)>>,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock {
            today: Cell::new((u64::MAX, NaiveDate::MIN)),
            anchor: Cell::new(None),
        }
    }
}

impl WallClock {
    /// The wall-clock time of the monotonic reading `now` (made a moment
    /// ago: an event's).
    fn at(&self, now: Instant) -> DateTime<Utc> {
        let Some(nanos) = self.since_epoch_at(now) else {
            return Utc::now();
        };
        self.date_time(nanos / NANOS, (nanos % NANOS) as u32)
    }

    /// `now` in nanoseconds since the epoch.
    fn since_epoch_at(&self, now: Instant) -> Option<u64> {
        if !cfg!(target_os = "linux") {
            return since_epoch();
        }
        if let Some((mono, wall)) = self.anchor.get() {
            match now.checked_duration_since(mono) {
                // Under a second: its nanoseconds are all of it.
                Some(after) if after < ANCHOR_FOR => {
                    return wall.checked_add(u64::from(after.subsec_nanos()));
                }
                Some(_) => {}
                // Made before the clocks were last read together.
                None => return earlier_by(wall, mono - now),
            }
        }
        let (mono, wall) = anchor()?;
        self.anchor.set(Some((mono, wall)));
        match now.checked_duration_since(mono) {
            Some(after) => wall.checked_add(u64::try_from(after.as_nanos()).ok()?),
            None => earlier_by(wall, mono - now),
        }
    }

    fn date_time(&self, secs: u64, nanos: u32) -> DateTime<Utc> {
        const DAY: u64 = 86_400;
        let day = secs / DAY;
        let (cached, mut date) = self.today.get();
        if cached != day {
            let Some(today) = DateTime::from_timestamp((day * DAY) as i64, 0) else {
                return Utc::now();
            };
            date = today.date_naive();
            self.today.set((day, date));
        }
        match NaiveTime::from_num_seconds_from_midnight_opt((secs % DAY) as u32, nanos) {
            Some(time) => date.and_time(time).and_utc(),
            None => Utc::now(),
        }
    }
}

/// `wall` less `by`, in nanoseconds.
fn earlier_by(wall: u64, by: Duration) -> Option<u64> {
    wall.checked_sub(u64::try_from(by.as_nanos()).ok()?)
}

/// The monotonic clock and the wall clock read together: the wall clock is
/// read on both sides of the monotonic reading and taken at its middle.
fn anchor() -> Option<(Instant, u64)> {
    let before = since_epoch()?;
    let mono = Instant::now();
    let after = since_epoch()?;
    Some((mono, before + after.saturating_sub(before) / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `at` lies between `before` and `after`, give or take `slack` (the
    /// two clocks are read together in an instant of their own).
    fn between(before: DateTime<Utc>, at: DateTime<Utc>, after: DateTime<Utc>) {
        let slack = chrono::TimeDelta::milliseconds(1);
        assert!(
            before - slack <= at && at <= after + slack,
            "{before} <= {at} <= {after}"
        );
    }

    #[test]
    fn a_stamp_is_the_wall_clock_time_of_its_reading() {
        let clock = WallClock::default();
        for round in 0..6 {
            let before = Utc::now();
            let now = Instant::now();
            let after = Utc::now();
            // Past the anchor's time now and then: read together again.
            if round % 2 == 1 {
                std::thread::sleep(ANCHOR_FOR + Duration::from_millis(2));
            }
            between(before, clock.at(now), after);
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn stamps_keep_the_distance_of_their_readings() {
        let clock = WallClock::default();
        let first = Instant::now();
        let first_at = clock.at(first);
        // A reading made before the anchor, and one after it.
        let earlier = first - Duration::from_micros(1_234);
        let later = first + Duration::from_nanos(5_678);
        assert_eq!(
            (first_at - clock.at(earlier)).num_nanoseconds(),
            Some(1_234_000)
        );
        assert_eq!((clock.at(later) - first_at).num_nanoseconds(), Some(5_678));
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn an_event_is_stamped_from_the_reading_its_publisher_gives() {
        let e = emitter();
        let (tx, rx) = std::sync::mpsc::channel();
        e.bus()
            .subscribe_fn(
                "stamps",
                crate::Filter::all(),
                crate::Delivery::lossless(8),
                move |ev: Event| {
                    let _ = tx.send(ev);
                },
            )
            .expect("a subscription");
        let moment = Instant::now() - Duration::from_millis(3);
        let before = Utc::now() - chrono::TimeDelta::milliseconds(3);
        e.emit_at(
            Payload::CheckedIn {
                held: Duration::ZERO,
            },
            moment,
        );
        let after = Utc::now() - chrono::TimeDelta::milliseconds(3);
        let event = rx.recv_timeout(Duration::from_secs(5)).expect("the event");
        between(before, event.meta().at, after);
    }

    fn emitter() -> Emitter {
        Emitter::new(Bus::new(), Arc::from("p"), Backend::Postgres, 7)
    }

    #[test]
    fn work_events_carry_their_own_labels() {
        let e = emitter();
        e.set_labels(Labels::new().with("lease", "a"));
        let own = e.publish_as(
            Payload::CheckedOut {
                waited: Duration::ZERO,
            },
            &Labels::new().with("caller", "b"),
        );
        assert_eq!(own.meta().labels, Labels::new().with("caller", "b"));
        let connection = e.publish(Payload::CheckedIn {
            held: Duration::ZERO,
        });
        assert_eq!(connection.meta().labels, Labels::new().with("lease", "a"));
        assert_eq!((own.meta().seq, connection.meta().seq), (1, 2));
    }

    fn executing() -> Payload {
        Payload::Executing {
            query_id: 1,
            sql: Arc::from("SELECT 1"),
            params: crate::Params::none(),
            class: crate::class::StatementClass::Read,
            origin: crate::Origin::Execute,
        }
    }

    /// The kind and sequence number of every event `e`'s bus delivers from
    /// now on.
    fn delivered(e: &Emitter) -> std::sync::mpsc::Receiver<(crate::Kind, u64)> {
        crate::testing::stamps(e.bus(), crate::Filter::all()).1
    }

    #[test]
    fn ids_are_unique_and_increase_along_each_connection() {
        let bus = Bus::new();
        // Three connections, each publishing from two threads at once,
        // each past the end of its first block of ids.
        let per_thread = ID_BLOCK as usize * 3 / 4;
        let threads: Vec<_> = (1..=3)
            .map(|c| {
                Arc::new(Emitter::new(
                    bus.clone(),
                    Arc::from("p"),
                    Backend::Sqlite,
                    c,
                ))
            })
            .flat_map(|e| [e.clone(), e])
            .map(|e| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| {
                            let m = e.publish(Payload::CheckedIn {
                                held: Duration::ZERO,
                            });
                            (m.meta().connection, m.meta().seq, m.meta().id)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut all: Vec<_> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("a publishing thread"))
            .collect();
        all.sort_unstable();
        for pair in all.windows(2) {
            if pair[0].0 == pair[1].0 {
                assert!(pair[0].2 < pair[1].2, "ids out of seq order: {pair:?}");
            }
        }
        let mut ids: Vec<u64> = all.iter().map(|x| x.2).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len(), "an id was handed out twice");
        // Other publishers' ids are not among a connection's either.
        let other = crate::event::next_event_id();
        assert!(!ids.contains(&other));
    }

    #[test]
    fn unheard_events_keep_the_status_and_the_numbering() {
        let e = emitter();
        // Nobody listens: no event is made, the status still follows.
        e.emit(executing());
        assert_eq!(e.status(false).state, ConnectionState::Running);
        e.emit(Payload::Executed {
            query_id: 1,
            took: Duration::ZERO,
            rows: None,
        });
        assert_eq!(e.status(false).statements, 1);
        assert_eq!(e.published(), 2);
        // A subscriber from now on gets the next number.
        let rx = delivered(&e);
        e.emit(executing());
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok((crate::Kind::Executing, 3))
        );
    }

    fn got(rx: &std::sync::mpsc::Receiver<(crate::Kind, u64)>) -> Vec<(crate::Kind, u64)> {
        // Lossless subscriptions on their own threads: wait for each.
        let mut out = Vec::new();
        while let Ok(x) = rx.recv_timeout(Duration::from_millis(200)) {
            out.push(x);
        }
        out
    }

    #[test]
    fn an_emitter_follows_subscriptions_made_and_ended_between_its_events() {
        use crate::{Filter, Kind};
        let e = emitter();
        let checked_in = || Payload::CheckedIn {
            held: Duration::ZERO,
        };
        // Built with nobody listening: the emitter's route is empty.
        e.emit(checked_in());
        // Of this pool, this connection, kind CheckedIn: every one of them.
        let (all, rx_all) =
            crate::testing::stamps(e.bus(), Filter::kinds([Kind::CheckedIn]).pool("p"));
        // Another pool's, and another connection's: none.
        let (_, rx_other_pool) = crate::testing::stamps(e.bus(), Filter::all().pool("q"));
        let (_, rx_other_conn) = crate::testing::stamps(e.bus(), Filter::all().connection(8));
        // This connection's: all kinds.
        let (_, rx_mine) = crate::testing::stamps(e.bus(), Filter::all().pool("p").connection(7));
        e.emit(checked_in());
        e.emit(executing());
        assert_eq!(got(&rx_all), [(Kind::CheckedIn, 2)]);
        assert_eq!(got(&rx_mine), [(Kind::CheckedIn, 2), (Kind::Executing, 3)]);
        // Ended: nothing more.
        assert!(e.bus().unsubscribe(all));
        e.emit(checked_in());
        assert_eq!(got(&rx_all), []);
        assert_eq!(got(&rx_mine), [(Kind::CheckedIn, 4)]);
        assert_eq!(got(&rx_other_pool), []);
        assert_eq!(got(&rx_other_conn), []);
    }

    #[test]
    fn a_counted_event_is_never_published_but_keeps_status_and_numbering() {
        let e = emitter();
        let rx = delivered(&e);
        // Counted even with a subscriber (one added after its publisher
        // found nobody listening): the subscriber never gets it.
        e.count(executing(), Instant::now());
        assert_eq!(e.status(false).state, ConnectionState::Running);
        e.emit(Payload::Executed {
            query_id: 1,
            took: Duration::ZERO,
            rows: None,
        });
        assert_eq!(e.status(false).statements, 1);
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(5)),
            Ok((crate::Kind::Executed, 2))
        );
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
    }

    #[test]
    fn pipelined_loans_count_until_the_last_returns() {
        let e = emitter();
        let out = || Payload::CheckedOut {
            waited: Duration::ZERO,
        };
        let back = || Payload::CheckedIn {
            held: Duration::ZERO,
        };
        e.emit(out());
        e.emit(out());
        e.emit(back());
        assert!(e.status(false).lent_for.is_some(), "one loan is still out");
        e.emit(back());
        assert!(e.status(false).lent_for.is_none());
        assert_eq!(e.status(false).state, ConnectionState::Idle);
    }

    #[test]
    fn a_stream_of_pipelined_statements_is_not_a_leak() {
        let e = emitter();
        let threshold = Duration::from_millis(30);
        e.emit(Payload::CheckedOut {
            waited: Duration::ZERO,
        });
        for _ in 0..4 {
            // A new statement joins before the previous one returns.
            e.emit(Payload::CheckedOut {
                waited: Duration::ZERO,
            });
            std::thread::sleep(Duration::from_millis(10));
            e.emit(Payload::CheckedIn {
                held: Duration::ZERO,
            });
            assert!(e.report_leak(threshold).is_none());
        }
        // One loan held past the threshold is still reported, once.
        std::thread::sleep(threshold);
        assert!(e.report_leak(threshold).is_some());
        assert!(e.report_leak(threshold).is_none());
    }
}

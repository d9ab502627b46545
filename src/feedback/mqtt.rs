//! MQTT 3.1.1, QoS 1, to a real broker (rumqttc), with a bounded queue that survives the broker
//! going away.
//!
//! Every message stays in edgeclass's own queue until the broker's PUBACK for it arrives. The
//! queue, not rumqttc, is the source of truth: rumqttc forgets unacknowledged publishes when it
//! reconnects to a broker that has no session for it (`session_present = false`, e.g. a restarted
//! broker without persistence), so after any connection error the whole client is dropped and the
//! unacknowledged messages are handed to a new one. Delivery is therefore at least once (a message
//! whose PUBACK was lost is sent again). When the queue is full a new message is refused, counted
//! and logged; nothing inside the bound is lost.
//!
//! Matching PUBACKs to messages: messages are handed to rumqttc in queue order, under one lock, on
//! a client used for one connection only; rumqttc reports `Outgoing::Publish(pkid)` in the same
//! order, which gives each handed message its packet id.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, Outgoing, Packet, QoS};

use super::config::MqttOptions;
use super::MqttStats;
use crate::error::{internal, Result};

/// Largest message accepted (topic + payload); larger ones are refused at the door, since a
/// message the client cannot send would block the queue forever.
const MAX_MESSAGE_BYTES: usize = 1 << 20;
const KEEP_ALIVE: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

struct Entry {
    topic: String,
    payload: Vec<u8>,
    /// Given to the current connection's client.
    handed: bool,
    /// Its packet id on the current connection, once rumqttc reported it.
    pkid: Option<u16>,
}

struct State {
    queue: VecDeque<Entry>,
    /// The current connection's client, while connected.
    client: Option<Client>,
    stats: MqttStats,
    last_error: Option<String>,
}

struct Shared {
    opts: MqttOptions,
    state: Mutex<State>,
    /// Signalled when the queue shrinks (for `flush`).
    drained: Condvar,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Hand every message not yet handed to the current client, in queue order.
fn feed(st: &mut State) {
    let State { queue, client, .. } = st;
    let Some(client) = client else { return };
    for e in queue.iter_mut().filter(|e| !e.handed) {
        match client.try_publish(e.topic.clone(), QoS::AtLeastOnce, false, e.payload.clone()) {
            Ok(()) => e.handed = true,
            // The request channel is full: the rest goes after the next acknowledgement.
            Err(_) => break,
        }
    }
}

/// Forget the current connection: every unacknowledged message will be sent again.
fn disconnected(st: &mut State) {
    st.client = None;
    st.stats.connected = false;
    for e in st.queue.iter_mut() {
        e.handed = false;
        e.pkid = None;
    }
}

/// A background MQTT publisher. Thread-safe; dropping it disconnects (waiting up to 3 s).
pub struct MqttPublisher {
    shared: Arc<Shared>,
    done: Mutex<Option<mpsc::Receiver<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl MqttPublisher {
    /// Start the connection thread; messages queue until the broker answers.
    pub fn start(opts: MqttOptions) -> Result<MqttPublisher> {
        let shared = Arc::new(Shared {
            opts,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                client: None,
                stats: MqttStats::default(),
                last_error: None,
            }),
            drained: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let (tx, rx) = mpsc::channel();
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("edgeclass-mqtt".into())
            .spawn(move || {
                run(&s);
                let _ = tx.send(());
            })
            .map_err(|e| internal(format!("cannot start the MQTT thread: {e}")))?;
        Ok(MqttPublisher {
            shared,
            done: Mutex::new(Some(rx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queue a message (QoS 1, not retained). Returns false when it was refused: the queue is
    /// full (`EdgeclassMqttQueueLimit`), or the message is too large or its topic invalid.
    pub fn publish(&self, topic: &str, payload: Vec<u8>) -> bool {
        let mut st = self.shared.lock();
        let refuse = |st: &mut State, why: String| {
            st.stats.overflowed += 1;
            let n = st.stats.overflowed;
            // The first, then every 100th: a dead broker must not flood the log.
            if n == 1 || n.is_multiple_of(100) {
                log::warn!("feedback MQTT: {why}; message to {topic} dropped ({n} dropped so far)");
            }
            false
        };
        if topic.is_empty() || topic.contains(['+', '#', '\0']) {
            return refuse(&mut st, format!("invalid topic {topic:?}"));
        }
        if topic.len() + payload.len() > MAX_MESSAGE_BYTES {
            return refuse(
                &mut st,
                format!(
                    "message of {} bytes is over {MAX_MESSAGE_BYTES}",
                    payload.len()
                ),
            );
        }
        if st.queue.len() >= self.shared.opts.queue_limit {
            let why = format!(
                "queue full ({} messages, EdgeclassMqttQueueLimit) while the broker {}:{} {}",
                st.queue.len(),
                self.shared.opts.host,
                self.shared.opts.port,
                if st.stats.connected {
                    "is slow"
                } else {
                    "is unreachable"
                }
            );
            return refuse(&mut st, why);
        }
        st.queue.push_back(Entry {
            topic: topic.to_string(),
            payload,
            handed: false,
            pkid: None,
        });
        st.stats.queued = st.queue.len() as u64;
        feed(&mut st);
        true
    }

    /// Wait until every queued message is acknowledged by the broker, at most `timeout`.
    pub fn flush(&self, timeout: Duration) -> bool {
        let end = Instant::now() + timeout;
        let mut st = self.shared.lock();
        while !st.queue.is_empty() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .shared
                .drained
                .wait_timeout(st, left.min(Duration::from_millis(100)))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Its delivery counters now.
    pub fn stats(&self) -> MqttStats {
        self.shared.lock().stats
    }

    /// The last connection error, if any.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }
}

impl Drop for MqttPublisher {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        {
            let mut st = self.shared.lock();
            if let Some(c) = st.client.take() {
                let _ = c.try_disconnect();
            }
            if !st.queue.is_empty() {
                log::warn!(
                    "feedback MQTT: closing with {} unacknowledged message(s)",
                    st.queue.len()
                );
            }
        }
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner()).take();
        if done.is_some_and(|rx| rx.recv_timeout(Duration::from_secs(3)).is_ok()) {
            if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
                let _ = t.join();
            }
        }
    }
}

/// The connection thread: connect, hand the queue over, match acknowledgements; on any error
/// drop the client and start again after a backoff.
fn run(shared: &Shared) {
    let o = &shared.opts;
    let mut backoff = Duration::from_millis(50);
    let mut connects = 0u64;
    while !shared.stop.load(Ordering::Relaxed) {
        let mut options = rumqttc::MqttOptions::new(o.client_id.clone(), o.host.clone(), o.port);
        options
            .set_keep_alive(KEEP_ALIVE)
            .set_clean_session(true)
            .set_max_packet_size(64 << 10, MAX_MESSAGE_BYTES + 1024);
        // Room for the whole queue, so handing it over never fails for lack of space.
        let (client, mut connection) = Client::new(options, o.queue_limit + 1);
        let mut client = Some(client);
        for event in connection.iter() {
            if shared.stop.load(Ordering::Relaxed) {
                break;
            }
            match event {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    connects += 1;
                    backoff = Duration::from_millis(50);
                    let mut st = shared.lock();
                    st.client = client.take();
                    st.stats.connected = true;
                    st.stats.reconnects = connects - 1;
                    log::info!(
                        "feedback MQTT: connected to {}:{} ({} message(s) waiting)",
                        o.host,
                        o.port,
                        st.queue.len()
                    );
                    feed(&mut st);
                }
                Ok(Event::Outgoing(Outgoing::Publish(pkid))) => {
                    let mut st = shared.lock();
                    if let Some(e) = st.queue.iter_mut().find(|e| e.handed && e.pkid.is_none()) {
                        e.pkid = Some(pkid);
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(ack))) => {
                    let mut st = shared.lock();
                    if let Some(i) = st.queue.iter().position(|e| e.pkid == Some(ack.pkid)) {
                        st.queue.remove(i);
                        st.stats.delivered += 1;
                        st.stats.queued = st.queue.len() as u64;
                        shared.drained.notify_all();
                    }
                    feed(&mut st);
                }
                Ok(_) => {}
                Err(e) => {
                    let mut st = shared.lock();
                    if st.stats.connected {
                        log::warn!(
                            "feedback MQTT: connection to {}:{} lost: {e}; {} message(s) kept for resending",
                            o.host,
                            o.port,
                            st.queue.len()
                        );
                    }
                    st.last_error = Some(e.to_string());
                    disconnected(&mut st);
                    break;
                }
            }
        }
        // Drop this connection's client (and with it any request it still held).
        disconnected(&mut shared.lock());
        drop(client);
        drop(connection);
        let end = Instant::now() + backoff;
        while !shared.stop.load(Ordering::Relaxed) && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

//! A fault-injecting TCP proxy between a pool and a shared server, so fault
//! tests never touch the server itself.
//!
//! Modes: `Forward` (a plain relay), `Reject` (accepts and closes at once,
//! like a server that is down), `Blackhole` (accepts and never answers).
//! `cut()` severs every relayed connection, as a server restart or a network
//! failure would.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Forward = 0,
    Reject = 1,
    Blackhole = 2,
}

struct Inner {
    upstream: SocketAddr,
    mode: AtomicU8,
    stopped: AtomicBool,
    /// Relayed connections hold every byte while set.
    stalled: Arc<AtomicBool>,
    /// Both ends of every connection ever accepted, to cut them.
    streams: Mutex<Vec<TcpStream>>,
}

pub struct Proxy {
    addr: SocketAddr,
    inner: Arc<Inner>,
}

impl Proxy {
    /// A proxy to `upstream` on an ephemeral port of 127.0.0.1.
    pub fn start(upstream: SocketAddr, mode: Mode) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Inner {
            upstream,
            mode: AtomicU8::new(mode as u8),
            stopped: AtomicBool::new(false),
            stalled: Arc::new(AtomicBool::new(false)),
            streams: Mutex::new(Vec::new()),
        });
        let accept = inner.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accept.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                accept.serve(client);
            }
        });
        Proxy { addr, inner }
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn set_mode(&self, mode: Mode) {
        self.inner.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Makes connections already relayed go silent (bytes are held, not
    /// lost), or speak again.
    pub fn stall(&self, on: bool) {
        self.inner.stalled.store(on, Ordering::SeqCst);
    }

    /// Severs every connection accepted so far.
    pub fn cut(&self) {
        for s in self.inner.streams.lock().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.cut();
        // Wake the accept loop so it sees `stopped`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

impl Inner {
    fn serve(self: &Arc<Self>, client: TcpStream) {
        let mode = self.mode.load(Ordering::SeqCst);
        if mode == Mode::Reject as u8 {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        if let Ok(c) = client.try_clone() {
            self.streams.lock().push(c);
        }
        if mode == Mode::Blackhole as u8 {
            // Hold it open and say nothing; `cut` or drop ends it.
            self.streams.lock().push(client);
            return;
        }
        let Ok(server) = TcpStream::connect_timeout(&self.upstream, Duration::from_secs(2)) else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        let _ = server.set_nodelay(true);
        let _ = client.set_nodelay(true);
        if let Ok(s) = server.try_clone() {
            self.streams.lock().push(s);
        }
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        let (stall_up, stall_down) = (self.stalled.clone(), self.stalled.clone());
        thread::spawn(move || relay(client, server, &stall_up));
        thread::spawn(move || relay(s2, c2, &stall_down));
    }
}

fn relay(mut from: TcpStream, mut to: TcpStream, stalled: &AtomicBool) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                while stalled.load(Ordering::SeqCst) {
                    thread::sleep(Duration::from_millis(5));
                }
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

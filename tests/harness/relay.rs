//! A TCP relay between a client and a real registry that breaks the network the way real
//! links do: it cuts connections once a number of bytes has crossed, or answers the first
//! connections with `503` and `Retry-After` as a busy registry's load balancer does, or
//! answers everything with `500`, or holds every answer back a while, as a registry far away
//! does. It counts the bytes that cross each way, so a test can tell
//! a transfer that resumed from one that started again.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the relay does to the traffic.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Cut the connection carrying the traffic when the bytes sent to the registry (all
    /// connections together) pass each of these counts.
    pub cut_up_at: Vec<u64>,
    /// The same for bytes coming back from the registry.
    pub cut_down_at: Vec<u64>,
    /// Answer this many new connections `503 Service Unavailable` with `Retry-After: 1`.
    pub busy_first: usize,
    /// Answer every request `500 Internal Server Error`.
    pub always_500: bool,
    /// Hold each piece of what the registry sends back this long before passing it on.
    pub delay_down: Duration,
}

#[derive(Debug, Default)]
struct Shared {
    up: AtomicU64,
    down: AtomicU64,
    busy_left: AtomicUsize,
    cuts_up: Mutex<Vec<u64>>,
    cuts_down: Mutex<Vec<u64>>,
    stop: AtomicBool,
}

/// A running relay; stops accepting when dropped.
#[derive(Debug)]
pub struct Relay {
    port: u16,
    shared: Arc<Shared>,
}

impl Relay {
    /// Relays 127.0.0.1:(a free port) to 127.0.0.1:`target`.
    pub fn start(target: u16, faults: Faults) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let port = listener.local_addr().expect("relay address").port();
        let mut cuts_up = faults.cut_up_at.clone();
        cuts_up.sort_unstable();
        let mut cuts_down = faults.cut_down_at.clone();
        cuts_down.sort_unstable();
        let shared = Arc::new(Shared {
            busy_left: AtomicUsize::new(faults.busy_first),
            cuts_up: Mutex::new(cuts_up),
            cuts_down: Mutex::new(cuts_down),
            ..Shared::default()
        });
        let accept = Arc::clone(&shared);
        thread::spawn(move || {
            for client in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = Arc::clone(&accept);
                let (always_500, delay) = (faults.always_500, faults.delay_down);
                thread::spawn(move || serve(client, target, &shared, always_500, delay));
            }
        });
        Relay { port, shared }
    }

    /// `127.0.0.1:PORT`, to put in references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Bytes sent to the registry so far.
    pub fn up_bytes(&self) -> u64 {
        self.shared.up.load(Ordering::SeqCst)
    }

    /// Bytes that came back from the registry so far.
    pub fn down_bytes(&self) -> u64 {
        self.shared.down.load(Ordering::SeqCst)
    }

    /// Cuts still to come (up, down): zero once every planned cut happened.
    pub fn cuts_left(&self) -> (usize, usize) {
        let up = self.shared.cuts_up.lock().map(|c| c.len()).unwrap_or(0);
        let down = self.shared.cuts_down.lock().map(|c| c.len()).unwrap_or(0);
        (up, down)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(mut client: TcpStream, target: u16, shared: &Arc<Shared>, always_500: bool, delay: Duration) {
    if always_500 || take_one(&shared.busy_left) {
        let (status, extra) = if always_500 {
            ("500 Internal Server Error", "")
        } else {
            ("503 Service Unavailable", "Retry-After: 1\r\n")
        };
        read_head(&mut client);
        let body = r#"{"errors":[{"code":"UNAVAILABLE","message":"the relay says so"}]}"#;
        let answer = format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = client.write_all(answer.as_bytes());
        let _ = client.shutdown(Shutdown::Both);
        return;
    }
    let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { return };
    let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else { return };
    let up_shared = Arc::clone(shared);
    let up = thread::spawn(move || pump(client, server, &up_shared.up, &up_shared.cuts_up, Duration::ZERO));
    pump(server2, client2, &shared.down, &shared.cuts_down, delay);
    let _ = up.join();
}

/// Copies `from` → `to`, each piece `delay` late, counting into `total`; when `total` passes
/// the next cut, both directions of this connection are shut down.
fn pump(mut from: TcpStream, mut to: TcpStream, total: &AtomicU64, cuts: &Mutex<Vec<u64>>, delay: Duration) {
    let _ = from.set_read_timeout(Some(Duration::from_secs(120)));
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if !delay.is_zero() {
            thread::sleep(delay);
        }
        let now = total.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        let cut = {
            let mut cuts = cuts.lock().expect("cuts");
            match cuts.first() {
                Some(&at) if now >= at => {
                    cuts.remove(0);
                    true
                }
                _ => false,
            }
        };
        if cut {
            // Part of this chunk goes through, as when a link drops mid-flight.
            let _ = to.write_all(&buf[..n / 2]);
            break;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

fn take_one(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

/// Reads a request's head (up to the blank line) so the answer does not race it.
fn read_head(client: &mut TcpStream) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") && seen.len() < 64 << 10 {
        match client.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => break,
        }
    }
}

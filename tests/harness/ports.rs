//! A free TCP port on the loopback interface, for services that must be told their port up front.

use std::net::{Ipv4Addr, TcpListener};

/// Returns a port that was free on 127.0.0.1 a moment ago.
///
/// The kernel picks it (bind to port 0) and the listener is closed at once, so another process
/// could take it before the caller does; services started on it fail fast and say so in their
/// log, which is rare enough on a test machine to accept.
pub fn free_port() -> u16 {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("cannot bind a loopback port: {e}"));
    listener.local_addr().unwrap_or_else(|e| panic!("cannot read the bound loopback address: {e}")).port()
}

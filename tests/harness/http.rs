//! A minimal blocking HTTP/1.0 client for services on the loopback interface: enough to see that
//! a service answers and to check what status a request gets, without the product's own HTTP stack.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use url::Url;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A response read to the end of the connection.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `GET url` with extra `headers` and reads the whole response.
///
/// HTTP/1.0 is asked for so that servers neither keep the connection open nor chunk the body.
pub fn get(url: &str, headers: &[(&str, &str)]) -> io::Result<Response> {
    let url = Url::parse(url).map_err(|e| invalid(format!("bad URL {url}: {e}")))?;
    if url.scheme() != "http" {
        return Err(invalid(format!("only http:// is supported, not {url}")));
    }
    let host = url.host_str().ok_or_else(|| invalid(format!("no host in {url}")))?;
    let port = url.port_or_known_default().unwrap_or(80);
    let addr: SocketAddr =
        (host, port).to_socket_addrs()?.next().ok_or_else(|| invalid(format!("{host} has no address")))?;

    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;

    let mut target = url.path().to_owned();
    if let Some(query) = url.query() {
        target.push('?');
        target.push_str(query);
    }
    let mut request = format!("GET {target} HTTP/1.0\r\nHost: {host}:{port}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes())?;

    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw)
}

/// A whole HTTP/1.x answer (status line, headers, body) as read to the end of its connection.
pub fn parse(raw: &[u8]) -> io::Result<Response> {
    let split = raw
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .ok_or_else(|| invalid("response has no end of headers".to_owned()))?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_owned(), value.trim().to_owned()))
        .collect();
    Ok(Response { status, headers, body: raw[split + 4..].to_vec() })
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_headers_and_body() {
        let response =
            parse(b"HTTP/1.1 401 Unauthorized\r\nWww-Authenticate: Bearer x\r\n\r\n{}").expect("valid response");
        assert_eq!(response.status, 401);
        assert_eq!(response.header("www-authenticate"), Some("Bearer x"));
        assert_eq!(response.body, b"{}");
    }
}

//! Stopping: on SIGTERM or SIGINT the server stops accepting connections, lets requests in
//! flight finish for a bounded grace period, and then returns, cutting whatever is left.
//!
//! A proxy's requests can be long (a 1 GiB blob), so waiting for all of them could hold a
//! rolling update (or `docker stop`) until its own timeout kills the process. With a grace
//! shorter than the orchestrator's (Kubernetes waits 30 s, `docker stop` 10 s) the server
//! always exits by itself, and a client whose transfer was cut sees its connection end and
//! can retry against another replica.

use std::future::{Future, IntoFuture};
use std::io;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// How [`serve`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Every request in flight finished within the grace period.
    Drained,
    /// The grace period ended with requests still in flight; they are cut when the caller
    /// drops the runtime (returns from `main`).
    Cut,
}

/// Serves `app` on `listener` until `stop` completes, then for at most `grace` more while
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> io::Result<Stopped> {
    let (stopping, mut stopped) = watch::channel(false);
    let signal = async move {
        stop.await;
        let _ = stopping.send(true);
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(signal).into_future();
    let deadline = async move {
        if stopped.wait_for(|stopping| *stopping).await.is_err() {
            // The server ended before any stop was asked for; it answers below.
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        served = server => served.map(|()| Stopped::Drained),
        () = deadline => Ok(Stopped::Cut),
    }
}

/// A future that completes on the first SIGTERM or SIGINT, with that signal's name. The
/// handlers are installed here, before serving, so that a signal arriving during start-up is
/// not lost (or taken as the default "terminate at once").
pub fn on_signal() -> io::Result<impl Future<Output = &'static str> + Send + 'static> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        }
    })
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::body::Body;
    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    use super::*;

    /// A server with `/slow` (answers after 200 ms), `/endless` (headers, then a body that never
    /// ends) and `/` (at once), stopped when the returned sender fires.
    async fn start(grace: Duration) -> (u16, oneshot::Sender<()>, tokio::task::JoinHandle<io::Result<Stopped>>) {
        let app = Router::new()
            .route("/", get(|| async { "hi" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    "done"
                }),
            )
            .route(
                "/endless",
                get(|| async { Body::from_stream(futures_util::stream::pending::<Result<Vec<u8>, io::Error>>()) }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().unwrap_or_else(|e| panic!("{e}")).port();
        let (tx, rx) = oneshot::channel();
        let stop = async move {
            let _ = rx.await;
        };
        (port, tx, tokio::spawn(serve(listener, app, stop, grace)))
    }

    async fn send(port: u16, path: &str) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap_or_else(|e| panic!("{e}"));
        let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap_or_else(|e| panic!("{e}"));
        stream
    }

    async fn read_to_end(mut stream: TcpStream) -> String {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut got)).await;
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn an_idle_server_stops_at_once() {
        let (port, stop, server) = start(Duration::from_secs(30)).await;
        let answer = read_to_end(send(port, "/").await).await;
        assert!(answer.ends_with("hi"), "{answer}");
        let clock = Instant::now();
        let _ = stop.send(());
        let stopped = server.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stopped, Stopped::Drained);
        assert!(clock.elapsed() < Duration::from_secs(2), "{:?}", clock.elapsed());
        assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err(), "nothing listens any more");
    }

    #[tokio::test]
    async fn a_request_in_flight_finishes_within_the_grace() {
        let (port, stop, server) = start(Duration::from_secs(30)).await;
        let slow = send(port, "/slow").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let clock = Instant::now();
        let _ = stop.send(());
        let answer = read_to_end(slow).await;
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"), "{answer}");
        let stopped = server.await.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stopped, Stopped::Drained);
        assert!(clock.elapsed() < Duration::from_secs(5), "{:?}", clock.elapsed());
    }

    #[tokio::test]
    async fn an_endless_request_is_given_up_after_the_grace() {
        let grace = Duration::from_millis(300);
        let (port, stop, server) = start(grace).await;
        let mut endless = send(port, "/endless").await;
        let mut head = [0u8; 12];
        endless.read_exact(&mut head).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&head, b"HTTP/1.1 200");
        let clock = Instant::now();
        let _ = stop.send(());
        let stopped = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .unwrap_or_else(|_| panic!("serve did not return within 10 s of the stop"))
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stopped, Stopped::Cut);
        let took = clock.elapsed();
        assert!(took >= grace && took < grace + Duration::from_secs(3), "{took:?}");
    }
}

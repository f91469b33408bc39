//! Admin HTTP on loopback: `/healthz`, `/readyz`, `/metrics` (Prometheus text).
//!
//! A small HTTP/1.1 responder on tokio, one request per connection (`Connection: close`):
//! the endpoints are scraped every few seconds, so keep-alive buys nothing and a web
//! framework would be the largest dependency of the binary.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, warn};

use crate::server::Shutdown;

/// Largest request head we read; anything longer is answered 431.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Time a client has to send its request head.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Concurrent admin connections; more wait in the backlog.
const MAX_ADMIN_CONNECTIONS: usize = 16;

/// What the admin endpoint reports.
pub trait AdminSource: Send + Sync + 'static {
    /// `Ok` when the switch can serve: the ledger answers and rates are loaded.
    fn ready(&self) -> impl Future<Output = Result<(), String>> + Send;
    /// Appends the Prometheus text exposition.
    fn metrics(&self, out: &mut String);
}

/// Serves the admin endpoint until `shutdown`.
pub async fn serve_admin<A: AdminSource>(
    listener: TcpListener,
    source: Arc<A>,
    mut shutdown: Shutdown,
) {
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_ADMIN_CONNECTIONS));
    loop {
        let permit = match permits.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => return,
        };
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                let source = source.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, source.as_ref()).await {
                        debug!(error = %e, "admin request failed");
                    }
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn handle<A: AdminSource>(mut stream: TcpStream, source: &A) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(h))) => h,
        Ok(Ok(None)) => {
            return respond(
                &mut stream,
                431,
                "text/plain",
                "request head too large\n",
                true,
            )
            .await
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return respond(&mut stream, 408, "text/plain", "request timeout\n", true).await,
    };
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let with_body = method != "HEAD";
    if method != "GET" && method != "HEAD" {
        return respond(
            &mut stream,
            405,
            "text/plain",
            "only GET and HEAD\n",
            with_body,
        )
        .await;
    }
    match path {
        "/healthz" => respond(&mut stream, 200, "text/plain", "ok\n", with_body).await,
        "/readyz" => match source.ready().await {
            Ok(()) => respond(&mut stream, 200, "text/plain", "ready\n", with_body).await,
            Err(why) => {
                let body = format!("not ready: {why}\n");
                respond(&mut stream, 503, "text/plain", &body, with_body).await
            }
        },
        "/metrics" => {
            let mut body = String::with_capacity(8 * 1024);
            source.metrics(&mut body);
            respond(
                &mut stream,
                200,
                "text/plain; version=0.0.4",
                &body,
                with_body,
            )
            .await
        }
        _ => respond(&mut stream, 404, "text/plain", "not found\n", with_body).await,
    }
}

/// The request head up to the blank line; `None` when it exceeds [`MAX_REQUEST_HEAD`].
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.windows(4).any(|w| w == b"\r\n\r\n") || buf.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Ok(None);
        }
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn respond(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
    with_body: bool,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    if with_body {
        stream.write_all(body.as_bytes()).await?;
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::shutdown_channel;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct Fake(AtomicBool);

    impl AdminSource for Fake {
        async fn ready(&self) -> Result<(), String> {
            if self.0.load(Ordering::SeqCst) {
                Ok(())
            } else {
                Err("rates not loaded".into())
            }
        }
        fn metrics(&self, out: &mut String) {
            out.push_str("gateway_test 1\n");
        }
    }

    async fn get(addr: std::net::SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn endpoints_answer() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let src = Arc::new(Fake(AtomicBool::new(false)));
        let (t, sd) = shutdown_channel();
        let h = tokio::spawn(serve_admin(l, src.clone(), sd));
        let r = get(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let r = get(addr, "GET /readyz HTTP/1.1\r\n\r\n").await;
        assert!(
            r.starts_with("HTTP/1.1 503") && r.contains("rates not loaded"),
            "{r}"
        );
        src.0.store(true, Ordering::SeqCst);
        let r = get(addr, "GET /readyz HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
        let r = get(addr, "GET /metrics HTTP/1.1\r\n\r\n").await;
        assert!(r.ends_with("gateway_test 1\n"), "{r}");
        let r = get(addr, "GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(addr, "POST /metrics HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        t.trigger();
        h.await.unwrap();
    }

    #[tokio::test]
    async fn oversized_head_is_refused() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (_t, sd) = shutdown_channel();
        tokio::spawn(serve_admin(l, Arc::new(Fake(AtomicBool::new(true))), sd));
        let big = format!("GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(20_000));
        let mut s = TcpStream::connect(addr).await.unwrap();
        let _ = s.write_all(big.as_bytes()).await;
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    }
}

//! What the zero-code tests share: a backend on a loopback port that counts the spans it is
//! sent. Each test is a binary of its own, as the switch is read once per process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Counts the spans of OTLP/JSON requests on a loopback port.
pub async fn backend() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let spans = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&spans);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut data = Vec::new();
                let mut buf = [0_u8; 8192];
                while let Ok(n @ 1..) = stream.read(&mut buf).await {
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data);
                    let Some((head, body)) = text.split_once("\r\n\r\n") else { continue };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().to_owned())
                        })
                        .and_then(|n| n.parse::<usize>().ok())
                        .unwrap_or(0);
                    if body.len() >= length {
                        counted.fetch_add(body.matches("\"spanId\"").count(), Ordering::SeqCst);
                        data.clear();
                        let ok = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}";
                        if stream.write_all(ok.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (url, spans)
}

//! A minimal HTTP/1.1 server for JSON-RPC over POST: keep-alive, `Content-Length` or chunked bodies. Enough
//! for alloy/reqwest clients and curl; it keeps this test tool free of an HTTP server dependency (hyper's
//! server features are not in the workspace's build).

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Largest header block and body accepted.
const MAX_HEADER: usize = 64 * 1024;
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A parsed request.
#[derive(Debug)]
pub(crate) struct Request {
    pub method: String,
    /// The request's path (`/`, or `/kiosk/doctor-0` when clients name themselves in their URL).
    pub path: String,
    pub body: Vec<u8>,
    /// The client asked to close the connection after this answer.
    pub close: bool,
}

/// What to do with a request.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Answer it.
    Respond(Response),
    /// Hold the connection this long, then close it without an answer.
    Hang(Duration),
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A JSON answer.
    pub(crate) fn json(status: u16, body: Vec<u8>) -> Self {
        Response {
            status,
            headers: vec![("content-type", "application/json".into())],
            body,
        }
    }

    /// A plain-text answer.
    pub(crate) fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("content-type", "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        502 => "Bad Gateway",
        _ => "Unknown",
    }
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads one request; `None` at a clean end of the connection.
pub(crate) async fn read_request<R: AsyncBufReadExt + Unpin>(
    rd: &mut R,
) -> std::io::Result<Option<Request>> {
    let mut line = String::new();
    // Skip empty lines between requests.
    loop {
        line.clear();
        if rd.read_line(&mut line).await? == 0 {
            return Ok(None);
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().ok_or_else(|| bad("no method"))?.to_string();
    let path = parts.next().ok_or_else(|| bad("no path"))?.to_string();
    let version = parts.next().unwrap_or("HTTP/1.0").to_string();
    let mut close = version == "HTTP/1.0";
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut header_bytes = line.len();
    loop {
        line.clear();
        let n = rd.read_line(&mut line).await?;
        if n == 0 {
            return Err(bad("connection closed inside the headers"));
        }
        header_bytes += n;
        if header_bytes > MAX_HEADER {
            return Err(bad("headers too large"));
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let Some((name, value)) = l.split_once(':') else {
            return Err(bad("malformed header"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                content_length = Some(value.parse().map_err(|_| bad("bad content-length"))?)
            }
            "transfer-encoding" => chunked = value.to_ascii_lowercase().contains("chunked"),
            "connection" => {
                let v = value.to_ascii_lowercase();
                if v.contains("close") {
                    close = true;
                } else if v.contains("keep-alive") {
                    close = false;
                }
            }
            _ => {}
        }
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            line.clear();
            rd.read_line(&mut line).await?;
            let size_hex = line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
            if size == 0 {
                // Trailers up to the empty line.
                loop {
                    line.clear();
                    if rd.read_line(&mut line).await? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            if body.len() + size > MAX_BODY {
                return Err(bad("body too large"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            rd.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            rd.read_exact(&mut crlf).await?;
        }
        body
    } else {
        let len = content_length.unwrap_or(0);
        if len > MAX_BODY {
            return Err(bad("body too large"));
        }
        let mut body = vec![0u8; len];
        rd.read_exact(&mut body).await?;
        body
    };
    Ok(Some(Request {
        path,
        method,
        body,
        close,
    }))
}

/// Writes an answer.
pub(crate) async fn write_response<W: AsyncWriteExt + Unpin>(
    wr: &mut W,
    resp: &Response,
    close: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (name, value) in &resp.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n", resp.body.len()));
    if close {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&resp.body);
    wr.write_all(&out).await?;
    wr.flush().await
}

/// Serves one connection until the client closes it, calling `handle` for each request.
pub(crate) async fn serve<F, Fut>(stream: TcpStream, handle: F)
where
    F: Fn(Request) -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut rd = BufReader::new(rd);
    loop {
        let req = match read_request(&mut rd).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                let _ = write_response(&mut wr, &Response::text(400, &e.to_string()), true).await;
                return;
            }
        };
        if req.method != "POST" {
            let resp = Response::text(405, "JSON-RPC: send a POST with a JSON body");
            if write_response(&mut wr, &resp, req.close).await.is_err() || req.close {
                return;
            }
            continue;
        }
        let close = req.close;
        match handle(req).await {
            Outcome::Respond(resp) => {
                if write_response(&mut wr, &resp, close).await.is_err() || close {
                    return;
                }
            }
            Outcome::Hang(d) => {
                tokio::time::sleep(d).await;
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parses_length_and_chunked_bodies_and_keep_alive() {
        let raw = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let mut rd = BufReader::new(&raw[..]);
        let a = read_request(&mut rd).await.unwrap().unwrap();
        assert_eq!(
            (a.method.as_str(), a.body.as_slice(), a.close),
            ("POST", &b"hello"[..], false)
        );
        let b = read_request(&mut rd).await.unwrap().unwrap();
        assert_eq!((b.body.as_slice(), b.close), (&b"abcde"[..], true));
        assert!(read_request(&mut rd).await.unwrap().is_none());
        let mut bad_len = BufReader::new(&b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n"[..]);
        assert!(read_request(&mut bad_len).await.is_err());
    }

    #[tokio::test]
    async fn writes_status_headers_and_length() {
        let mut out = Vec::new();
        let mut r = Response::json(429, b"{}".to_vec());
        r.headers.push(("retry-after", "2".into()));
        write_response(&mut out, &r, false).await.unwrap();
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{s}");
        assert!(s.contains("retry-after: 2\r\n") && s.contains("content-length: 2\r\n"));
        assert!(s.ends_with("\r\n\r\n{}"));
    }
}

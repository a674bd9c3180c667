//! The IdP's HTTP/1.1 over TLS: one thread per connection, keep-alive,
//! requests parsed by `httparse`, bodies by `Content-Length` (what MSAL
//! clients send: no chunked uploads). Bounded: 64 KiB heads, 1 MiB bodies,
//! 30 s idle timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

/// One parsed request.
pub(crate) struct Request {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) form: Vec<(String, String)>,
    /// The `Authorization` header (the protected resource reads it).
    pub(crate) authorization: Option<String>,
    pub(crate) close: bool,
}

impl Request {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.form.iter().chain(&self.query).find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// An answer.
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn json(status: u16, body: serde_json::Value) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub(crate) fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.to_owned(),
        }
    }

    pub(crate) fn redirect(location: String) -> Self {
        Response { status: 302, headers: vec![("Location".into(), location)], body: String::new() }
    }

    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Serves one TLS connection until the client closes it.
pub(crate) fn serve(tcp: TcpStream, tls: Arc<rustls::ServerConfig>, handler: &dyn Fn(&Request) -> Response) {
    let _ = tcp.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = tcp.set_nodelay(true);
    let Ok(conn) = rustls::ServerConnection::new(tls) else { return };
    let mut stream = rustls::StreamOwned::new(conn, tcp);
    let mut buf = Vec::new();
    while let Some(req) = read_request(&mut stream, &mut buf) {
        let resp = handler(&req);
        if write_response(&mut stream, &resp).is_err() || req.close {
            break;
        }
    }
    stream.conn.send_close_notify();
    let _ = stream.flush();
}

fn read_request(stream: &mut impl Read, buf: &mut Vec<u8>) -> Option<Request> {
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(head_len) = req.parse(buf).ok()? {
            let header = |n: &str| {
                req.headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case(n))
                    .and_then(|h| std::str::from_utf8(h.value).ok())
            };
            let len: usize = header("content-length").and_then(|v| v.trim().parse().ok()).unwrap_or(0);
            if len > 1 << 20 {
                return None;
            }
            let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
            let authorization = header("authorization").map(str::to_owned);
            let (method, target) = (req.method?.to_owned(), req.path?.to_owned());
            while buf.len() < head_len + len {
                let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[head_len..head_len + len]).into_owned();
            buf.drain(..head_len + len);
            let (path, query) = target.split_once('?').unwrap_or((&target, ""));
            return Some(Request {
                method,
                path: path.to_owned(),
                query: parse_form(query),
                form: parse_form(&body),
                authorization,
                close,
            });
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).ok().filter(|&n| n > 0)?;
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn write_response(stream: &mut impl Write, r: &Response) -> std::io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {reason}\r\nContent-Length: {}\r\n", r.status, r.body.len());
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(r.body.as_bytes())?;
    stream.flush()
}

/// `application/x-www-form-urlencoded` → pairs.
pub(crate) fn parse_form(s: &str) -> Vec<(String, String)> {
    let dec =
        |x: &str| percent_encoding::percent_decode_str(&x.replace('+', " ")).decode_utf8_lossy().into_owned();
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (dec(k), dec(v)))
        .collect()
}

/// Percent-encodes a query value.
pub(crate) fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

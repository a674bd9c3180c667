//! The authorization code grant with PKCE (RFC 7636, S256) through a
//! loopback redirect (RFC 8252 §7.3): a one-shot HTTP listener on
//! `127.0.0.1`, the system browser, and the code exchanged for tokens.
//!
//! The listener binds the IPv4 loopback address only, never a public
//! interface; it answers every request with a short page, accepts only a
//! redirect carrying the `state` this sign-in generated (a stray or forged
//! request gets a 400 and the wait goes on), and gives up after
//! [`InteractiveOptions::timeout`].

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use msal_extensions::Persistence;
use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::core::{Core, check_scopes, decorate};
use crate::crypto::{nonce, pkce};
use crate::error::{Error, IdpError, Result};
use crate::result::AuthenticationResult;

/// A callback receiving the sign-in URL.
pub type UrlCallback = Box<dyn FnOnce(&str) + Send>;

/// Options of an interactive sign-in.
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use msal_client::InteractiveOptions;
/// let opts = InteractiveOptions::new()
///     .open_browser(false)
///     .on_url(|url| eprintln!("Open this page to sign in: {url}"))
///     .timeout(Duration::from_secs(120));
/// # let _ = opts;
/// ```
#[non_exhaustive]
pub struct InteractiveOptions {
    /// Open the system browser on the sign-in page (default `true`).
    pub open_browser: bool,
    /// Called with the sign-in URL before waiting (for headless users,
    /// remote sessions, and tests that drive the page themselves).
    pub on_url: Option<UrlCallback>,
    /// How long to wait for the browser to come back (default 5 minutes).
    pub timeout: Duration,
    /// The loopback port; 0 (the default) lets the system choose.
    pub port: u16,
    /// The host in the redirect URI: `localhost` (the default, what Azure CLI
    /// and MSAL Python register) or `127.0.0.1`. The listener binds
    /// `127.0.0.1` either way.
    pub redirect_host: String,
    /// Pre-fills the user name on the sign-in page.
    pub login_hint: Option<String>,
    /// `prompt` (`select_account`, `login`, `consent`, `none`).
    pub prompt: Option<String>,
    /// A claims challenge to satisfy (from [`Error::claims`](crate::Error::claims)).
    pub claims: Option<String>,
}

impl Default for InteractiveOptions {
    fn default() -> Self {
        InteractiveOptions {
            open_browser: true,
            on_url: None,
            timeout: Duration::from_secs(300),
            port: 0,
            redirect_host: "localhost".into(),
            login_hint: None,
            prompt: None,
            claims: None,
        }
    }
}

impl std::fmt::Debug for InteractiveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractiveOptions")
            .field("open_browser", &self.open_browser)
            .field("on_url", &self.on_url.is_some())
            .field("timeout", &self.timeout)
            .field("port", &self.port)
            .field("redirect_host", &self.redirect_host)
            .field("login_hint", &self.login_hint)
            .field("prompt", &self.prompt)
            .field("claims", &self.claims.is_some())
            .finish()
    }
}

impl InteractiveOptions {
    /// The defaults: open the browser, wait 5 minutes, any port, `localhost`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether to open the system browser.
    pub fn open_browser(mut self, open: bool) -> Self {
        self.open_browser = open;
        self
    }

    /// A callback given the sign-in URL.
    pub fn on_url(mut self, f: impl FnOnce(&str) + Send + 'static) -> Self {
        self.on_url = Some(Box::new(f));
        self
    }

    /// How long to wait for the redirect.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A fixed loopback port.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The redirect URI's host (`localhost` or `127.0.0.1`).
    pub fn redirect_host(mut self, host: &str) -> Self {
        self.redirect_host = host.to_owned();
        self
    }

    /// Pre-fills the user name.
    pub fn login_hint(mut self, hint: &str) -> Self {
        self.login_hint = Some(hint.to_owned());
        self
    }

    /// The `prompt` parameter.
    pub fn prompt(mut self, prompt: &str) -> Self {
        self.prompt = Some(prompt.to_owned());
        self
    }

    /// A claims challenge to send.
    pub fn claims(mut self, claims: &str) -> Self {
        self.claims = Some(claims.to_owned());
        self
    }
}

/// What the redirect carried.
struct Redirect {
    code: String,
}

impl<P: Persistence> Core<P> {
    pub(crate) fn interactive(
        &self,
        scopes: &[&str],
        mut opts: InteractiveOptions,
    ) -> Result<AuthenticationResult> {
        check_scopes(scopes)?;
        let ep = self.endpoints()?;
        let listener = TcpListener::bind(("127.0.0.1", opts.port))
            .map_err(|e| Error::interactive(format!("cannot listen on 127.0.0.1:{}", opts.port), Some(e)))?;
        let port = listener.local_addr().map_err(|e| Error::interactive("no local address", Some(e)))?.port();
        let redirect_uri = format!("http://{}:{port}", opts.redirect_host);
        let (verifier, challenge) = pkce();
        let state = nonce();
        let scope = decorate(scopes);
        let mut query = vec![
            ("client_id", self.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri.as_str()),
            ("scope", scope.as_str()),
            ("state", state.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in [("login_hint", &opts.login_hint), ("prompt", &opts.prompt), ("claims", &opts.claims)] {
            if let Some(v) = v {
                query.push((k, v));
            }
        }
        let url = format!("{}?{}", ep.authorize, encode_query(&query));
        if let Some(f) = opts.on_url.take() {
            f(&url);
        }
        if opts.open_browser {
            open_browser(&url);
        }
        let redirect = wait_for_redirect(&listener, &state, opts.timeout, &ep.authorize)?;
        let mut fields = vec![
            ("code", redirect.code.as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("code_verifier", verifier.as_str()),
            ("scope", scope.as_str()),
        ];
        if let Some(c) = &opts.claims {
            fields.push(("claims", c));
        }
        let (json, ep) = self.token_request("authorization_code", &fields)?;
        self.store(json, &ep, scopes, "authorization_code", None)
    }
}

fn encode_query(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    pairs.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&")
}

/// Accepts connections until one carries a code (or an error) with our
/// `state`, or the time is up.
fn wait_for_redirect(
    listener: &TcpListener,
    state: &str,
    timeout: Duration,
    authorize: &str,
) -> Result<Redirect> {
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::interactive("cannot poll the loopback listener", Some(e)))?;
    let started = Instant::now();
    while started.elapsed() < timeout {
        match listener.accept() {
            Ok((stream, _)) => {
                if let Some(r) = handle(stream, state, authorize)? {
                    return Ok(r);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(Error::interactive("accepting the browser's connection failed", Some(e))),
        }
    }
    Err(Error::Timeout { what: "the browser to return to the loopback redirect", waited: started.elapsed() })
}

/// Answers one request. `Ok(None)`: not the redirect we wait for (a
/// favicon, a wrong `state`); keep waiting.
fn handle(mut stream: TcpStream, state: &str, authorize: &str) -> Result<Option<Redirect>> {
    let Some(target) = read_request_target(&mut stream) else { return Ok(None) };
    let params = parse_query(target.split_once('?').map_or("", |(_, q)| q));
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if get("code").is_none() && get("error").is_none() {
        respond(&mut stream, "404 Not Found", "Nothing here.");
        return Ok(None);
    }
    if get("state") != Some(state) {
        log::warn!("loopback redirect with a wrong or missing state ignored");
        respond(
            &mut stream,
            "400 Bad Request",
            "This sign-in response does not belong to the waiting application.",
        );
        return Ok(None);
    }
    if let Some(error) = get("error") {
        respond(&mut stream, "200 OK", "Sign-in failed. You can close this window.");
        let idp = IdpError {
            status: 0,
            error: error.to_owned(),
            description: get("error_description").map(str::to_owned),
            ..Default::default()
        };
        return Err(Error::IdentityProvider {
            operation: "authorization".into(),
            url: authorize.to_owned(),
            idp: Box::new(idp),
        });
    }
    respond(&mut stream, "200 OK", "Signed in. You can close this window and return to the application.");
    Ok(get("code").map(|c| Redirect { code: c.to_owned() }))
}

/// The request target of a `GET`, read with a 5 s timeout and a 16 KiB bound.
fn read_request_target(stream: &mut TcpStream) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => return req.path.map(str::to_owned),
            Ok(httparse::Status::Partial) if buf.len() < 16 * 1024 => continue,
            _ => return None,
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!("<!doctype html><html><body><p>{text}</p></body></html>");
    let msg = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(msg.as_bytes());
}

/// `a=1&b=x%20y` → pairs, decoded as a form (`+` is a space).
fn parse_query(q: &str) -> Vec<(String, String)> {
    let dec = |s: &str| percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned();
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .map(|(k, v)| (dec(k), dec(v)))
        .collect()
}

/// Starts the system browser on `url`; a failure is logged, not fatal (the
/// URL also went to `on_url`, when given).
fn open_browser(url: &str) {
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        // `start` would need cmd.exe quoting of `&`; the URL protocol handler takes it as is.
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        std::process::Command::new("xdg-open")
    };
    cmd.arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    match cmd.spawn() {
        // Reap it in the background so no zombie is left behind.
        Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
        Err(e) => log::warn!("could not open a browser ({e}); open the sign-in URL yourself"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_round_trip() {
        let q = encode_query(&[("redirect_uri", "http://localhost:1"), ("scope", "a b")]);
        assert_eq!(q, "redirect%5Furi=http%3A%2F%2Flocalhost%3A1&scope=a%20b");
        let back = parse_query("code=x%2By+z&state=s&empty");
        assert_eq!(
            back,
            [("code".into(), "x+y z".into()), ("state".into(), "s".into()), ("empty".into(), String::new())]
        );
    }
}

//! The device authorization grant (RFC 8628): the user signs in on another
//! device with a short code while this process polls the token endpoint.

use std::time::{Duration, Instant};

use msal_extensions::Persistence;
use serde_json::Value;

use crate::core::{Core, check_scopes, decorate};
use crate::error::{Error, Result};
use crate::result::AuthenticationResult;

/// The grant type of the polling requests; MSAL records it as the account's `account_source`.
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What to show the user: go to [`verification_uri`](Self::verification_uri)
/// and enter [`user_code`](Self::user_code). [`message`](Self::message) says
/// both in a sentence, in the user's language when the identity provider
/// localises it.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct DeviceCodeInfo {
    /// The code the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same page with the code filled in, when the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// A ready-made sentence with the URL and the code.
    pub message: String,
    /// How long the code stays valid.
    pub expires_in: Duration,
    /// How long to wait between polls, as the provider asked.
    pub interval: Duration,
}

impl<P: Persistence> Core<P> {
    /// Requests a device code, gives it to `prompt`, then polls until the
    /// user approves, declines, or the code expires.
    pub(crate) fn device_code(
        &self,
        scopes: &[&str],
        claims: Option<&str>,
        prompt: impl FnOnce(&DeviceCodeInfo),
    ) -> Result<AuthenticationResult> {
        check_scopes(scopes)?;
        let ep = self.endpoints()?;
        let url = ep.device_code.clone().ok_or_else(|| {
            Error::invalid(
                "authority",
                format!("{} has no device authorization endpoint", self.authority.url()),
            )
        })?;
        let scope = decorate(scopes);
        let mut form = vec![("client_id", self.client_id.as_str()), ("scope", scope.as_str())];
        if let Some(c) = claims {
            form.push(("claims", c));
        }
        let op = "device code request";
        let json = self.http.post_form(op, &url, &form)?;
        let (info, device_code) = parse_info(&json).ok_or_else(|| Error::InvalidResponse {
            operation: op.into(),
            url: url.clone(),
            reason: "no user_code, device_code or verification_uri".into(),
        })?;
        prompt(&info);
        self.poll(&device_code, &info, scopes)
    }

    /// Polls the token endpoint: at once (the user may already have
    /// approved), then every `interval`, 5 s longer after each `slow_down`.
    fn poll(
        &self,
        device_code: &str,
        info: &DeviceCodeInfo,
        scopes: &[&str],
    ) -> Result<AuthenticationResult> {
        let started = Instant::now();
        let mut interval = info.interval;
        loop {
            match self.token_request(DEVICE_CODE_GRANT, &[("device_code", device_code)]) {
                Ok((json, ep)) => return self.store(json, &ep, scopes, DEVICE_CODE_GRANT, None),
                Err(e) => match e.idp().map(|i| i.error.as_str()) {
                    Some("authorization_pending") => {}
                    Some("slow_down") => interval += Duration::from_secs(5),
                    Some("expired_token") => {
                        return Err(Error::Timeout {
                            what: "the user to enter the device code",
                            waited: started.elapsed(),
                        });
                    }
                    _ => return Err(e),
                },
            }
            if started.elapsed() + interval >= info.expires_in {
                return Err(Error::Timeout {
                    what: "the user to enter the device code",
                    waited: started.elapsed(),
                });
            }
            std::thread::sleep(interval);
        }
    }
}

/// The prompt and the device code from the device authorization answer.
fn parse_info(json: &crate::http::Json) -> Option<(DeviceCodeInfo, String)> {
    let s = |k: &str| json.get(k).and_then(Value::as_str).map(str::to_owned);
    let secs = |k: &str, default: u64| {
        json.get(k).and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok())).unwrap_or(default)
    };
    // Entra's v1 endpoint said `verification_url`.
    let verification_uri = s("verification_uri").or_else(|| s("verification_url"))?;
    let user_code = s("user_code")?;
    let message = s("message")
        .unwrap_or_else(|| format!("To sign in, open {verification_uri} and enter the code {user_code}."));
    let info = DeviceCodeInfo {
        verification_uri_complete: s("verification_uri_complete"),
        expires_in: Duration::from_secs(secs("expires_in", 900)),
        interval: Duration::from_secs(secs("interval", 5)),
        user_code,
        verification_uri,
        message,
    };
    Some((info, s("device_code")?))
}

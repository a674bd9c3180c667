//! The endpoints: routing, client authentication, the grants, and the
//! tokens (opaque access and refresh tokens, an unsigned-by-policy id token
//! and `client_info`, as Entra ID shapes them).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::http::{Request, Response, enc};
use crate::{AuthCode, ClientAuth, DeviceCode, RtInfo, State, TENANT, USER_OID, USERNAME};

const RESERVED: [&str; 3] = ["openid", "profile", "offline_access"];

/// Token request fields holding a secret, kept in [`State::received_secrets`].
const SECRET_FIELDS: [&str; 6] =
    ["client_secret", "client_assertion", "refresh_token", "device_code", "code", "code_verifier"];

impl State {
    pub(crate) fn new(base: String) -> Self {
        State {
            base,
            counts: Default::default(),
            clients: Default::default(),
            refresh_tokens: Default::default(),
            device_codes: Default::default(),
            auth_codes: Default::default(),
            issued_access_tokens: Vec::new(),
            received_secrets: Vec::new(),
            serial: 0,
            expires_in: 3600,
            refresh_in: None,
            throttle: Vec::new(),
            claims_challenge: None,
            slow_down_once: false,
            device_lifetime: 600,
            device_interval: 1,
            token_delay: Duration::ZERO,
        }
    }

    fn count(&mut self, name: &str) {
        *self.counts.entry(name.to_owned()).or_default() += 1;
    }

    fn next(&mut self, prefix: &str) -> String {
        self.serial += 1;
        let r: u64 = rand_u64();
        format!("{prefix}-{}-{r:016x}", self.serial)
    }
}

fn rand_u64() -> u64 {
    let mut b = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b).expect("random");
    u64::from_le_bytes(b)
}

fn lock(state: &Arc<Mutex<State>>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// An OAuth2 error answer in Entra ID's shape.
fn oauth_error(status: u16, error: &str, aadsts: u64, text: &str) -> Response {
    Response::json(
        status,
        json!({
            "error": error,
            "error_description": format!("AADSTS{aadsts}: {text}\r\nTrace ID: test-trace\r\nCorrelation ID: test-correlation\r\nTimestamp: now"),
            "error_codes": [aadsts],
            "timestamp": "now",
            "trace_id": "test-trace-id",
            "correlation_id": "test-correlation-id",
        }),
    )
}

pub(crate) fn handle(state: &Arc<Mutex<State>>, req: &Request) -> Response {
    let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    match (req.method.as_str(), parts.as_slice()) {
        ("GET", [tenant, "v2.0", ".well-known", "openid-configuration"]) => discovery(state, tenant),
        ("POST", [tenant, "oauth2", "v2.0", "token"]) => token(state, tenant, req),
        ("POST", [_, "oauth2", "v2.0", "devicecode"]) => device_code(state, req),
        ("GET", [_, "oauth2", "v2.0", "authorize"]) => authorize(state, req),
        ("GET", ["device"]) => approve_device(state, req),
        ("GET", ["resource"]) => protected_resource(state, req),
        _ => Response::text(404, "not found"),
    }
}

fn discovery(state: &Arc<Mutex<State>>, tenant: &str) -> Response {
    let mut s = lock(state);
    s.count("discovery");
    let b = format!("{}/{tenant}", s.base);
    Response::json(
        200,
        json!({
            "issuer": format!("{b}/v2.0"),
            "authorization_endpoint": format!("{b}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{b}/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{b}/oauth2/v2.0/devicecode"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
        }),
    )
}

fn token(state: &Arc<Mutex<State>>, tenant: &str, req: &Request) -> Response {
    let grant = req.param("grant_type").unwrap_or("").to_owned();
    let delay = {
        let mut s = lock(state);
        s.count("token");
        s.count(&format!("token:{grant}"));
        for field in SECRET_FIELDS {
            if let Some(v) = req.param(field).filter(|v| !v.is_empty()) {
                s.received_secrets.push(v.to_owned());
            }
        }
        if !s.throttle.is_empty() {
            let (status, after) = s.throttle.remove(0);
            let mut r = oauth_error(
                status,
                "temporarily_unavailable",
                50196,
                "The server is throttling this client.",
            );
            if let Some(a) = after {
                r = r.header("Retry-After", &a.to_string());
            }
            return r;
        }
        s.token_delay
    };
    std::thread::sleep(delay);
    let mut s = lock(state);
    let endpoint = format!("{}/{tenant}/oauth2/v2.0/token", s.base);
    let client_id = req.param("client_id").unwrap_or("").to_owned();
    if let Err(r) = authenticate(&s, &client_id, req, &endpoint) {
        return r;
    }
    match grant.as_str() {
        "client_credentials" => client_credentials(&mut s, &client_id, req),
        "refresh_token" => refresh(&mut s, &client_id, req),
        "urn:ietf:params:oauth:grant-type:device_code" => poll_device_code(&mut s, &client_id, req),
        "authorization_code" => redeem_code(&mut s, &client_id, req),
        _ => {
            oauth_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        }
    }
}

/// Checks the client: unknown ids, wrong secrets and bad assertions are refused.
fn authenticate(s: &State, client_id: &str, req: &Request, endpoint: &str) -> Result<(), Response> {
    let Some(client) = s.clients.get(client_id) else {
        return Err(oauth_error(
            400,
            "unauthorized_client",
            700016,
            "Application not found in the directory.",
        ));
    };
    match &client.auth {
        ClientAuth::Public => Ok(()),
        ClientAuth::Secret(want) if req.param("client_secret") == Some(want.as_str()) => Ok(()),
        ClientAuth::Secret(_) => {
            Err(oauth_error(401, "invalid_client", 7000215, "Invalid client secret provided."))
        }
        ClientAuth::Certificate(der) => check_assertion(der, client_id, req, endpoint).map_err(|why| {
            oauth_error(401, "invalid_client", 700027, &format!("Client assertion failed: {why}"))
        }),
    }
}

/// Verifies a client assertion as Entra ID does: type, thumbprint, signature, claims.
fn check_assertion(der: &[u8], client_id: &str, req: &Request, endpoint: &str) -> Result<(), String> {
    if req.param("client_assertion_type") != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") {
        return Err("wrong client_assertion_type".into());
    }
    let jwt = req.param("client_assertion").ok_or("no client_assertion")?;
    let parts: Vec<&str> = jwt.split('.').collect();
    let [h, p, sig] = parts.as_slice() else { return Err("not a JWS".into()) };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Value =
        serde_json::from_slice(&b64.decode(h).map_err(|_| "header")?).map_err(|_| "header json")?;
    let claims: Value =
        serde_json::from_slice(&b64.decode(p).map_err(|_| "payload")?).map_err(|_| "payload json")?;
    // Entra takes `x5t#S256` (MSAL's choice with PS256) or the SHA-1 `x5t`
    // (what MSAL Python sends when given a thumbprint, as Azure CLI does);
    // MSAL Python pads its base64url, so padding is ignored.
    let thumbprint = |alg| b64.encode(ring::digest::digest(alg, der));
    let given = |name: &str| header[name].as_str().map(|t| t.trim_end_matches('=').to_owned());
    let matches = match (given("x5t#S256"), given("x5t")) {
        (Some(t), _) => t == thumbprint(&ring::digest::SHA256),
        (None, Some(t)) => t == thumbprint(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY),
        (None, None) => false,
    };
    if !matches {
        return Err("x5t#S256 (or x5t) does not match the registered certificate".into());
    }
    let alg: &dyn rustls::pki_types::SignatureVerificationAlgorithm = match header["alg"].as_str() {
        Some("PS256") => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        Some("RS256") => webpki::ring::RSA_PKCS1_2048_8192_SHA256,
        _ => return Err("unsupported alg".into()),
    };
    let cert_der = rustls::pki_types::CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&cert_der).map_err(|_| "registered certificate unparsable")?;
    let signature = b64.decode(sig).map_err(|_| "signature encoding")?;
    cert.verify_signature(alg, format!("{h}.{p}").as_bytes(), &signature).map_err(|_| "bad signature")?;
    // NumericDate may have a fraction (MSAL Python sends `time.time()` floats).
    let now = now() as f64;
    let ok = claims["aud"] == json!(endpoint)
        && claims["iss"] == json!(client_id)
        && claims["sub"] == json!(client_id)
        && claims["exp"].as_f64().is_some_and(|e| e > now)
        && claims["nbf"].as_f64().is_none_or(|n| n <= now + 60.0)
        && claims["jti"].as_str().is_some_and(|j| !j.is_empty());
    if ok { Ok(()) } else { Err("aud, iss, sub, exp, nbf or jti is wrong".into()) }
}

fn client_credentials(s: &mut State, client_id: &str, req: &Request) -> Response {
    if matches!(s.clients[client_id].auth, ClientAuth::Public) {
        return oauth_error(
            401,
            "invalid_client",
            7000218,
            "The request body must contain client_assertion or client_secret.",
        );
    }
    let scope = req.param("scope").unwrap_or("");
    if !scope.ends_with("/.default") {
        return oauth_error(
            400,
            "invalid_scope",
            1002012,
            "The scope must end in /.default for client credentials.",
        );
    }
    let at = s.next("at-app");
    s.issued_access_tokens.push(at.clone());
    let mut body = json!({"token_type": "Bearer", "expires_in": s.expires_in, "ext_expires_in": s.expires_in, "access_token": at});
    if let Some(r) = s.refresh_in {
        body["refresh_in"] = json!(r);
    }
    Response::json(200, body)
}

fn refresh(s: &mut State, client_id: &str, req: &Request) -> Response {
    let rt = req.param("refresh_token").unwrap_or("");
    let Some(info) = s.refresh_tokens.get(rt).cloned() else {
        return oauth_error(
            400,
            "invalid_grant",
            9002313,
            "Invalid request. The refresh token is malformed or unknown.",
        );
    };
    if info.revoked {
        return oauth_error(400, "invalid_grant", 700082, "The refresh token has expired or been revoked.");
    }
    let family = s.clients[client_id].family.clone();
    let same_family = info.family.is_some() && info.family == family;
    if info.client_id != client_id && !same_family {
        let mut r =
            oauth_error(400, "invalid_grant", 70000, "The refresh token was issued to a different client.");
        add_fields(&mut r, json!({"error_additional_info": ["client_mismatch"]}));
        return r;
    }
    if let Some(claims) = s.claims_challenge.clone() {
        let mut r = oauth_error(
            400,
            "invalid_grant",
            50076,
            "Due to a configuration change, you must use multi-factor authentication.",
        );
        add_fields(&mut r, json!({"suberror": "basic_action", "claims": claims}));
        return r;
    }
    Response::json(200, user_tokens(s, client_id, req.param("scope").unwrap_or("")))
}

fn add_fields(r: &mut Response, extra: Value) {
    let mut v: Value = serde_json::from_str(&r.body).expect("own JSON");
    for (k, x) in extra.as_object().expect("object") {
        v[k] = x.clone();
    }
    r.body = v.to_string();
}

fn device_code(state: &Arc<Mutex<State>>, req: &Request) -> Response {
    let mut s = lock(state);
    s.count("devicecode");
    let client_id = req.param("client_id").unwrap_or("").to_owned();
    if !s.clients.contains_key(&client_id) {
        return oauth_error(400, "unauthorized_client", 700016, "Application not found in the directory.");
    }
    let code = s.next("dc");
    let user_code = format!("U{:08X}", rand_u64() as u32);
    let uri = format!("{}/device", s.base);
    let (lifetime, interval) = (s.device_lifetime, s.device_interval);
    let dc = DeviceCode {
        user_code: user_code.clone(),
        client_id,
        scope: req.param("scope").unwrap_or("").to_owned(),
        approved: false,
        polls: 0,
        expires_at: Instant::now() + Duration::from_secs(lifetime),
    };
    s.device_codes.insert(code.clone(), dc);
    Response::json(
        200,
        json!({
            "user_code": user_code, "device_code": code, "verification_uri": uri,
            "expires_in": lifetime, "interval": interval,
            "message": format!("To sign in, use a web browser to open the page {uri} and enter the code {user_code} to authenticate."),
        }),
    )
}

/// An API protected by the IdP's access tokens: 200 for a token it issued,
/// 401 with a `WWW-Authenticate: Bearer` challenge otherwise.
fn protected_resource(state: &Arc<Mutex<State>>, req: &Request) -> Response {
    let mut s = lock(state);
    s.count("resource");
    let token = req.authorization.as_deref().and_then(|h| h.strip_prefix("Bearer "));
    match token {
        Some(t) if s.issued_access_tokens.iter().any(|i| i == t) => Response::json(200, json!({"ok": true})),
        _ => Response::json(401, json!({"error": "invalid_token"}))
            .header("WWW-Authenticate", "Bearer error=\"invalid_token\""),
    }
}

fn approve_device(state: &Arc<Mutex<State>>, req: &Request) -> Response {
    let mut s = lock(state);
    s.count("device_approve");
    let code = req.param("user_code").unwrap_or("");
    match s.device_codes.values_mut().find(|d| d.user_code == code) {
        Some(d) => {
            d.approved = true;
            Response::text(200, "approved")
        }
        None => Response::text(404, "no such code"),
    }
}

fn poll_device_code(s: &mut State, client_id: &str, req: &Request) -> Response {
    let code = req.param("device_code").unwrap_or("").to_owned();
    let Some(d) = s.device_codes.get_mut(&code) else {
        return oauth_error(400, "invalid_grant", 70000, "The device code is unknown.");
    };
    d.polls += 1;
    if d.client_id != client_id {
        return oauth_error(400, "invalid_grant", 70000, "The device code was issued to another client.");
    }
    if Instant::now() > d.expires_at {
        return oauth_error(400, "expired_token", 70020, "The device code expired.");
    }
    if s.slow_down_once && d.polls == 1 {
        s.slow_down_once = false;
        return oauth_error(400, "slow_down", 70016, "Polling too fast.");
    }
    if !d.approved {
        return oauth_error(
            400,
            "authorization_pending",
            70016,
            "The user has not yet approved the device code.",
        );
    }
    let scope = s.device_codes.remove(&code).map(|d| d.scope).unwrap_or_default();
    Response::json(200, user_tokens(s, client_id, &scope))
}

fn authorize(state: &Arc<Mutex<State>>, req: &Request) -> Response {
    let mut s = lock(state);
    s.count("authorize");
    let q = |k: &str| req.query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (Some(client_id), Some(redirect_uri), Some(challenge)) =
        (q("client_id"), q("redirect_uri"), q("code_challenge"))
    else {
        return Response::text(400, "client_id, redirect_uri and code_challenge are required");
    };
    if q("response_type").as_deref() != Some("code") || q("code_challenge_method").as_deref() != Some("S256")
    {
        return Response::text(400, "response_type=code and code_challenge_method=S256 are required");
    }
    if !s.clients.contains_key(&client_id) {
        return Response::text(400, "unknown client");
    }
    let code = s.next("code");
    let scope = q("scope").unwrap_or_default();
    s.auth_codes
        .insert(code.clone(), AuthCode { client_id, redirect_uri: redirect_uri.clone(), challenge, scope });
    let mut loc = format!("{redirect_uri}?code={}", enc(&code));
    if let Some(st) = q("state") {
        loc.push_str(&format!("&state={}", enc(&st)));
    }
    Response::redirect(loc)
}

fn redeem_code(s: &mut State, client_id: &str, req: &Request) -> Response {
    let Some(c) = s.auth_codes.remove(req.param("code").unwrap_or("")) else {
        return oauth_error(
            400,
            "invalid_grant",
            70008,
            "The authorization code is unknown or was already redeemed.",
        );
    };
    let verifier = req.param("code_verifier").unwrap_or("");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let expected = b64.encode(ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()));
    if c.client_id != client_id || req.param("redirect_uri") != Some(c.redirect_uri.as_str()) {
        return oauth_error(
            400,
            "invalid_grant",
            50148,
            "The code was issued to another client or redirect URI.",
        );
    }
    if expected != c.challenge {
        return oauth_error(
            400,
            "invalid_grant",
            501481,
            "The code_verifier does not match the code_challenge.",
        );
    }
    Response::json(200, user_tokens(s, client_id, &c.scope))
}

/// Access, refresh and id token for the test user, as Entra ID answers.
fn user_tokens(s: &mut State, client_id: &str, scope: &str) -> Value {
    let family = s.clients[client_id].family.clone();
    let at = s.next("at-user");
    let rt = s.next("rt");
    s.issued_access_tokens.push(at.clone());
    s.refresh_tokens.insert(
        rt.clone(),
        RtInfo { client_id: client_id.to_owned(), family: family.clone(), revoked: false },
    );
    let granted: Vec<&str> = scope.split_whitespace().filter(|x| !RESERVED.contains(x)).collect();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let now = now();
    let claims = json!({
        "aud": client_id, "iss": format!("{}/{TENANT}/v2.0", s.base), "iat": now, "nbf": now, "exp": now + 3600,
        "name": "Alice", "oid": USER_OID, "preferred_username": USERNAME, "sub": format!("sub-{client_id}"),
        "tid": TENANT, "ver": "2.0",
    });
    let id_token = format!(
        "{}.{}.c2ln",
        b64.encode(r#"{"alg":"RS256","typ":"JWT","kid":"test"}"#),
        b64.encode(claims.to_string())
    );
    let mut body = json!({
        "token_type": "Bearer", "scope": granted.join(" "), "expires_in": s.expires_in, "ext_expires_in": s.expires_in,
        "access_token": at, "refresh_token": rt, "id_token": id_token,
        "client_info": b64.encode(json!({"uid": USER_OID, "utid": TENANT}).to_string()),
    });
    if let Some(f) = family {
        body["foci"] = json!(f);
    }
    if let Some(r) = s.refresh_in {
        body["refresh_in"] = json!(r);
    }
    body
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

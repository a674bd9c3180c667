//! The `azure_core` credentials (feature `azure-core`), used through
//! azure_core's own trait and pipeline: `TokenCredential::get_token`, and an
//! azure_core `Pipeline` with its `BearerTokenAuthorizationPolicy` calling a
//! protected HTTPS endpoint of the local IdP, which accepts only tokens it
//! issued. `get_token` must not block the executor while a token is renewed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use azure_core::credentials::TokenCredential;
use azure_core::http::headers::Headers;
use azure_core::http::policies::Policy;
use azure_core::http::policies::auth::BearerTokenAuthorizationPolicy;
use azure_core::http::{
    AsyncRawResponse, ClientOptions, Context, HttpClient, Method, Pipeline, Request, StatusCode, Transport,
    Url,
};
use common::*;
use futures_lite::future::{block_on, yield_now, zip};
use msal_client::azure_cli::AzureCli;
use msal_client::azure_sdk::{AzureCliCredential, AzureCliCredentialOptions, SharedCacheCredential};
use msal_client::{ClientCredential, ConfidentialClient, Error};

const APP: &str = "a2c0e000-0000-4000-8000-0000000000c0";

#[test]
fn user_credential_renews_without_blocking_the_executor() {
    let f = Fixture::new("sdk-user");
    let cache = f.cache("c.json");
    let app = f.public(AZ_CLI, &cache);
    f.idp.set_expires_in(120); // expired at once (MSAL's 5-minute margin)
    let account = f.sign_in(&app).account.unwrap();
    f.idp.set_expires_in(3600);
    f.idp.reset_counts();
    f.idp.set_token_delay(Duration::from_millis(800));
    let credential: Arc<dyn TokenCredential> = SharedCacheCredential::user(app, account);

    // One thread runs both futures. Had get_token blocked it, the watcher
    // could not run while the renewal is at the IdP.
    let done = AtomicBool::new(false);
    let renewal = async {
        let t = credential.get_token(&[SCOPE], None).await;
        done.store(true, Ordering::SeqCst);
        t
    };
    let watcher = async {
        loop {
            if done.load(Ordering::SeqCst) {
                return false;
            }
            if f.idp.count("token") == 1 {
                return true; // the request is at the IdP and the executor still runs us
            }
            yield_now().await;
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    let (token, saw_request_in_flight) = block_on(zip(renewal, watcher));
    let token = token.unwrap();
    assert!(saw_request_in_flight, "the executor was blocked during the renewal");
    assert_eq!(f.idp.issued_access_tokens().last().map(String::as_str), Some(token.token.secret()));
    assert!(token.expires_on > azure_core::time::OffsetDateTime::now_utc() + Duration::from_secs(3000));

    // From the cache now: no request.
    f.idp.set_token_delay(Duration::ZERO);
    let again = block_on(credential.get_token(&[SCOPE], None)).unwrap();
    assert_eq!(again.token, token.token);
    assert_eq!(f.idp.count("token"), 1);
}

/// An azure_core transport over `ureq`, trusting the test CA: azure_core
/// is built without its reqwest default, so the test brings its own.
#[derive(Debug)]
struct UreqTransport(ureq::Agent);

#[async_trait::async_trait]
impl HttpClient for UreqTransport {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        assert_eq!(request.method(), Method::Get);
        let mut req = self.0.get(request.url().as_str());
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        let mut resp = req.call().map_err(|e| azure_core::Error::new(azure_core::error::ErrorKind::Io, e))?;
        let status = StatusCode::from(resp.status().as_u16());
        let body = resp.body_mut().read_to_vec().unwrap();
        Ok(AsyncRawResponse::from_bytes(status, Headers::new(), body))
    }
}

fn pipeline(f: &Fixture, credential: Arc<dyn TokenCredential>) -> Pipeline {
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(UreqTransport(browser(f.idp.ca_pem()))))),
        ..Default::default()
    };
    let auth: Arc<dyn Policy> = Arc::new(BearerTokenAuthorizationPolicy::new(credential, [SCOPE]));
    Pipeline::new(Some("msal-client-test"), Some("0"), options, Vec::new(), vec![auth], None)
}

fn call_resource(f: &Fixture, p: &Pipeline) -> azure_core::Result<StatusCode> {
    let url = Url::parse(&format!("{}/resource", f.idp.base_url())).unwrap();
    let mut request = Request::new(url, Method::Get);
    block_on(p.send(&Context::new(), &mut request, None)).map(|r| r.status())
}

#[test]
fn application_credential_through_an_azure_core_pipeline() {
    let f = Fixture::new("sdk-app");
    f.idp.register_secret_client(APP, "app-secret");
    let app = ConfidentialClient::new(APP, ClientCredential::secret("app-secret"), f.cache("app.json"))
        .with_authority(f.authority())
        .with_http(f.http());
    let p = pipeline(&f, SharedCacheCredential::application(app));
    assert_eq!(call_resource(&f, &p).unwrap(), StatusCode::Ok);
    assert_eq!(call_resource(&f, &p).unwrap(), StatusCode::Ok);
    assert_eq!((f.idp.count("resource"), f.idp.count("token:client_credentials")), (2, 1));

    // The same pipeline with a wrong secret: the credential's error, kind Credential, no secret in it.
    let bad = ConfidentialClient::new(APP, ClientCredential::secret("wrong-secret-xyz"), f.cache("bad.json"))
        .with_authority(f.authority())
        .with_http(f.http());
    let e = call_resource(&f, &pipeline(&f, SharedCacheCredential::application(bad))).unwrap_err();
    assert_eq!(e.kind(), &azure_core::error::ErrorKind::Credential);
    let shown = format!("{e} {e:?} {}", error_chain(&e));
    assert!(shown.contains("invalid_client") && !shown.contains("wrong-secret-xyz"), "{shown}");
}

#[test]
fn azure_cli_credential_errors_are_typed_and_carry_the_cause() {
    let dir = Scratch::new("sdk-az-none");
    let options =
        AzureCliCredentialOptions { source: Some(AzureCli::in_dir(&dir.0).unwrap()), ..Default::default() };
    let credential = AzureCliCredential::new(Some(options)).unwrap();
    let e = block_on(credential.get_token(&[SCOPE], None)).unwrap_err();
    assert_eq!(e.kind(), &azure_core::error::ErrorKind::Credential);
    let cause = e.into_inner().unwrap().downcast::<Error>().unwrap();
    assert!(cause.is_interaction_required(), "{cause}");
    assert!(block_on(credential.get_token(&[], None)).is_err(), "no scope");
    let both = AzureCliCredentialOptions {
        subscription: Some("s".into()),
        tenant_id: Some("t".into()),
        source: Some(AzureCli::in_dir(&dir.0).unwrap()),
    };
    assert!(AzureCliCredential::new(Some(both)).is_err());
}

#[test]
#[ignore = "needs Azure CLI 2.91 (MSALX_AZ_PYTHON); scripts/test.sh runs it"]
fn azure_cli_credential_serves_the_user_az_signed_in() {
    let Some(py) = az::az_python() else { return };
    let f = Fixture::new("sdk-az");
    let az = az::Az::new(py, &f.dir.path(".azure"), &f.idp.base_url(), &f.idp.ca_path());
    let ca = f.idp.ca_pem().to_owned();
    az.login_device_code(msal_test_idp::TENANT, |uri, code| approve(&ca, uri, code));
    f.idp.reset_counts();
    let source = AzureCli::in_dir(&az.dir).unwrap().with_http(f.http());
    let credential = AzureCliCredential::new(Some(AzureCliCredentialOptions {
        source: Some(source),
        ..Default::default()
    }))
    .unwrap();
    let arm = "https://management.core.windows.net//.default";
    let token = block_on(credential.get_token(&[arm], None)).unwrap();
    assert_eq!(f.idp.count("token"), 0, "az login's token, from Azure CLI's cache");
    let theirs = az.json(&["account", "get-access-token"]);
    assert_eq!(theirs["accessToken"].as_str(), Some(token.token.secret()));
    assert_eq!(
        theirs["expires_on"].as_i64().map(|e| (e - token.expires_on.unix_timestamp()).abs() <= 2),
        Some(true)
    );
    // Through a pipeline: a token for another resource is renewed once, and the resource accepts it.
    let p = pipeline(&f, credential);
    assert_eq!(call_resource(&f, &p).unwrap(), StatusCode::Ok);
    assert_eq!(f.idp.count("token:refresh_token"), 1);
}

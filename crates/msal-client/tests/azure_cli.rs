//! Azure CLI as a source, against the real Azure CLI 2.91 driven offline
//! (`tests/common/az.rs`): `az login` (device code, service principal with a
//! secret, with a certificate) writes the profile and cache as Azure CLI
//! does; `AzureCli` gives what `az account get-access-token` gives, renews
//! through the local IdP, and afterwards Azure CLI and MSAL Python find the
//! new token in the cache without a token request.

mod common;

use std::path::Path;
use std::time::Duration;

use common::az::{ARM_RESOURCE, Az, az_python};
use common::*;
use msal_client::azure_cli::{AzureCli, AzureCliRequest, AzureCliToken};
use msal_client::{Error, TokenSource};
use msal_test_idp::{TENANT, USERNAME};
use serde_json::Value;

const GRAPH: &str = "https://graph.microsoft.com/.default";
const APP: &str = "5e7ce000-0000-4000-8000-00000000a990";
const APP_SECRET: &str = "app-secret-value-not-for-logs";

/// An IdP, an Azure CLI folder whose active cloud signs in there, and the
/// Rust source on the same folder.
struct Setup {
    f: Fixture,
    az: Az,
}

impl Setup {
    fn new(name: &str) -> Option<Self> {
        let py = az_python()?;
        let f = Fixture::new(name);
        let az = Az::new(py, &f.dir.path(".azure"), &f.idp.base_url(), &f.idp.ca_path());
        Some(Setup { f, az })
    }

    fn rust(&self) -> AzureCli {
        AzureCli::in_dir(&self.az.dir).unwrap().with_http(self.f.http())
    }

    fn login_user(&self) {
        let ca = self.f.idp.ca_pem().to_owned();
        self.az.login_device_code(TENANT, |uri, code| approve(&ca, uri, code));
    }

    /// MSAL Python (Azure CLI's own msal 1.39 and msal-extensions 1.3.1) on Azure CLI's cache.
    fn msal_python_silent(&self, scope: &str) -> Value {
        let cache = self.az.dir.join("msal_token_cache.json").display().to_string();
        let authority = format!("{}/{TENANT}", self.f.idp.base_url());
        let ca = self.f.idp.ca_path().display().to_string();
        let child = std::process::Command::new(&self.az.py)
            .arg(py_script("msal_peer.py"))
            .args(["silent", &cache, &authority, &ca, AZ_CLI, scope, USERNAME])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = common::az::wait(child, Duration::from_secs(60), "msal_peer.py silent");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(out.stdout.rsplit(|b| *b == b'\n').find(|l| !l.is_empty()).unwrap()).unwrap()
    }
}

/// `az account get-access-token` and ours agree on every field but the token's times.
fn assert_same_answer(az: &Value, ours: &AzureCliToken) {
    let ours: Value = serde_json::from_str(&ours.to_az_json()).unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(az), keys(&ours), "same fields in the same order");
    for k in ["accessToken", "subscription", "tenant", "tokenType"] {
        assert_eq!(az.get(k), ours.get(k), "{k}");
    }
    // Azure CLI says now + expires_in: within a second or two of the stored expiry.
    let (a, o) = (az["expires_on"].as_i64().unwrap(), ours["expires_on"].as_i64().unwrap());
    assert!((a - o).abs() <= 2, "expires_on {a} vs {o}");
    assert_eq!(az["expiresOn"].as_str().unwrap().len(), ours["expiresOn"].as_str().unwrap().len());
}

#[test]
#[ignore = "needs Azure CLI 2.91 (MSALX_AZ_PYTHON); scripts/test.sh runs it"]
fn user_signed_in_with_az_renewed_by_rust_then_az_and_msal_python_use_the_new_token() {
    let Some(s) = Setup::new("az-user") else { return };
    s.f.idp.set_expires_in(120); // already inside MSAL's 5-minute margin: expired for everyone
    s.login_user();
    let profile = std::fs::read(s.az.dir.join("azureProfile.json")).unwrap();
    assert!(profile.starts_with(b"\xef\xbb\xbf"), "Azure CLI writes its profile with a BOM");
    s.f.idp.set_expires_in(3600);
    s.f.idp.reset_counts();

    let ours = s.rust().get_access_token(&AzureCliRequest::new()).unwrap();
    assert_eq!(ours.source, TokenSource::IdentityProvider);
    assert_eq!(s.f.idp.count("token:refresh_token"), 1, "{:?}", s.f.idp.counts());
    assert_eq!((ours.tenant.as_str(), ours.subscription.as_deref()), (TENANT, Some(TENANT)));
    let again = s.rust().get_access_token(&AzureCliRequest::new()).unwrap();
    assert_eq!((again.source, &again.access_token), (TokenSource::Cache, &ours.access_token));

    // Azure CLI's own code, then MSAL Python, find the renewed token: no token request.
    let az = s.az.json(&["account", "get-access-token"]);
    assert_same_answer(&az, &ours);
    let one_refresh = [("token".to_string(), 1), ("token:refresh_token".to_string(), 1)].into();
    assert_eq!(s.f.idp.counts(), one_refresh, "Azure CLI made no request at all (its MSAL caches discovery)");
    let py = s.msal_python_silent(&format!("{ARM_RESOURCE}/.default"));
    assert_eq!(
        (py["access_token"].as_str(), py["token_source"].as_str()),
        (Some(ours.access_token.expose()), Some("cache"))
    );
    assert_eq!(s.f.idp.count("token"), 1, "{:?}", s.f.idp.counts());

    // --tenant: no subscription in the answer; --resource and --scope as az builds them.
    let by_tenant = s.rust().get_access_token(&AzureCliRequest::new().tenant(TENANT)).unwrap();
    assert_same_answer(&s.az.json(&["account", "get-access-token", "--tenant", TENANT]), &by_tenant);
    let graph =
        s.rust().get_access_token(&AzureCliRequest::new().resource("https://graph.microsoft.com")).unwrap();
    assert_eq!(graph.source, TokenSource::IdentityProvider, "a new resource: one refresh");
    assert_same_answer(&s.az.json(&["account", "get-access-token", "--scope", GRAPH]), &graph);
    assert_eq!(s.f.idp.count("token"), 2, "{:?}", s.f.idp.counts());
}

#[test]
#[ignore = "needs Azure CLI 2.91 (MSALX_AZ_PYTHON); scripts/test.sh runs it"]
fn service_principal_with_a_secret() {
    let Some(s) = Setup::new("az-sp-secret") else { return };
    s.f.idp.register_secret_client(APP, APP_SECRET);
    let login = ["login", "--service-principal", "-u", APP, "-p", APP_SECRET, "--tenant", TENANT];
    s.az.run(&[&login[..], &["--skip-subscription-discovery", "-o", "none"]].concat());
    s.f.idp.reset_counts();
    service_principal_tokens(&s);
}

#[test]
#[ignore = "needs Azure CLI 2.91 (MSALX_AZ_PYTHON); scripts/test.sh runs it"]
fn service_principal_with_a_certificate() {
    let Some(s) = Setup::new("az-sp-cert") else { return };
    let (cert, key) = msal_test_idp::client_certificate("az sp test");
    s.f.idp.register_certificate_client(APP, &cert);
    let pem = s.f.dir.path("sp.pem");
    std::fs::write(&pem, format!("{key}{cert}")).unwrap();
    let pem = pem.display().to_string();
    let login = ["login", "--service-principal", "-u", APP, "--certificate", &pem, "--tenant", TENANT];
    s.az.run(&[&login[..], &["--skip-subscription-discovery", "-o", "none"]].concat());
    s.f.idp.reset_counts();
    service_principal_tokens(&s);
}

/// `az login --service-principal` cached an ARM token: ours is that one;
/// a Graph token is requested once by Rust and then found by Azure CLI.
fn service_principal_tokens(s: &Setup) {
    let arm = s.rust().get_access_token(&AzureCliRequest::new()).unwrap();
    assert_eq!(arm.source, TokenSource::Cache, "az login left an ARM token");
    let graph = s.rust().get_access_token(&AzureCliRequest::new().scope(GRAPH)).unwrap();
    assert_eq!(graph.source, TokenSource::IdentityProvider);
    assert_eq!(s.f.idp.count("token:client_credentials"), 1);
    assert_same_answer(&s.az.json(&["account", "get-access-token", "--scope", GRAPH]), &graph);
    assert_same_answer(&s.az.json(&["account", "get-access-token"]), &arm);
    assert_eq!(s.f.idp.count("token"), 1, "Azure CLI found both in the cache: {:?}", s.f.idp.counts());
    let secrets = format!("{arm:?} {graph:?} {:?}", s.rust());
    assert!(!secrets.contains(APP_SECRET) && !secrets.contains(graph.access_token.expose()));
}

/// A profile as `az login --identity` leaves it (`_profile.py`
/// `login_with_managed_identity` → `_normalize_properties`).
fn managed_identity_profile(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let doc = serde_json::json!({"installationId": "i", "subscriptions": [{
        "id": "00000000-0000-4000-8000-0000000000aa", "name": "VM", "state": "Enabled",
        "user": {"name": "systemAssignedIdentity", "type": "servicePrincipal", "assignedIdentityInfo": "MSI"},
        "isDefault": true, "tenantId": TENANT, "environmentName": "AzureCloud",
        "homeTenantId": TENANT, "managedByTenants": []}]});
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(doc.to_string().into_bytes());
    std::fs::write(dir.join("azureProfile.json"), bytes).unwrap();
}

#[test]
fn managed_identity_is_a_typed_unsupported_error() {
    let dir = Scratch::new("az-mi");
    managed_identity_profile(&dir.0);
    let e = AzureCli::in_dir(&dir.0).unwrap().get_access_token(&AzureCliRequest::new()).unwrap_err();
    assert!(matches!(e, Error::Unsupported { .. }), "{e:?}");
    assert!(e.to_string().contains("managed identity"), "{e}");
}

#[test]
fn not_signed_in_says_run_az_login() {
    let dir = Scratch::new("az-none");
    let e = AzureCli::in_dir(&dir.0).unwrap().get_access_token(&AzureCliRequest::new()).unwrap_err();
    assert!(e.is_interaction_required(), "{e:?}");
    assert!(e.to_string().contains("az login"), "{e}");
    let both = AzureCliRequest::new().tenant("t").subscription("s");
    let e = AzureCli::in_dir(&dir.0).unwrap().get_access_token(&both).unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
}

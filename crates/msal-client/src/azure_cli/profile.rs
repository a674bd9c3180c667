//! `azureProfile.json`: the subscriptions Azure CLI knows, which one is the
//! default, and who is signed in to each (azure-cli-core 2.91 `_profile.py`:
//! `Profile.get_subscription`, `_parse_managed_identity_account`,
//! `_create_credential`; `_session.py` reads it as `utf-8-sig`, so a UTF-8
//! BOM may or may not be there).

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};

/// Who a subscription entry is signed in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SignedIn {
    /// `user.type == "user"`: a person; `name` is the MSAL account's username.
    User(String),
    /// `user.type == "servicePrincipal"`: `name` is the application (client) id.
    ServicePrincipal(String),
    /// `az login --identity` (`user.name` `systemAssignedIdentity` or `userAssignedIdentity`).
    ManagedIdentity,
    /// A Cloud Shell account (`user.cloudShellID`) while running in Cloud Shell (`ACC_CLOUD`).
    CloudShell,
    /// Any other `user.type`.
    Other(String),
}

/// One entry of `subscriptions`.
#[derive(Debug, Clone)]
pub(crate) struct Subscription {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) tenant_id: String,
    pub(crate) identity: SignedIn,
    environment_name: String,
    is_default: bool,
}

/// The subscriptions in `path`; none when the file does not exist (never signed in).
pub(crate) fn load(path: &Path, in_cloud_shell: bool) -> Result<Vec<Subscription>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::AzureCli {
                path: path.to_path_buf(),
                reason: "cannot be read".into(),
                source: Some(Box::new(e)),
            });
        }
    };
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
    let doc: Value = serde_json::from_slice(text).map_err(|e| Error::AzureCli {
        path: path.to_path_buf(),
        reason: "is not JSON; run `az login` to rewrite it".into(),
        source: Some(Box::new(e)),
    })?;
    let entries = doc.get("subscriptions").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    entries.iter().map(|s| parse(s, in_cloud_shell)).collect::<Option<Vec<_>>>().ok_or_else(|| {
        Error::azure_cli(path, "has a subscription without id, name, tenantId or user; run `az login`")
    })
}

fn parse(s: &Value, in_cloud_shell: bool) -> Option<Subscription> {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let user = s.get("user")?;
    let user_name = text(user, "name")?;
    let identity = match (user_name.as_str(), text(user, "type").as_deref()) {
        ("systemAssignedIdentity" | "userAssignedIdentity", _) => SignedIn::ManagedIdentity,
        _ if in_cloud_shell && user.get("cloudShellID").is_some_and(|v| !v.is_null()) => SignedIn::CloudShell,
        (_, Some("user")) => SignedIn::User(user_name),
        (_, Some("servicePrincipal")) => SignedIn::ServicePrincipal(user_name),
        (_, other) => SignedIn::Other(other.unwrap_or("").to_owned()),
    };
    Some(Subscription {
        id: text(s, "id")?,
        name: text(s, "name").unwrap_or_default(),
        tenant_id: text(s, "tenantId")?,
        identity,
        environment_name: text(s, "environmentName").unwrap_or_default(),
        is_default: s.get("isDefault").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// `Profile.get_subscription`: among the active cloud's subscriptions, the
/// default one, or the one whose id or name is `wanted` (case-insensitive).
pub(crate) fn select<'a>(
    subscriptions: &'a [Subscription],
    cloud: &str,
    wanted: Option<&str>,
    path: &Path,
) -> Result<&'a Subscription> {
    let in_cloud: Vec<&Subscription> = subscriptions.iter().filter(|s| s.environment_name == cloud).collect();
    if in_cloud.is_empty() {
        return Err(Error::InteractionRequired {
            reason: format!(
                "nobody is signed in to Azure CLI in cloud {cloud} ({}); run `az login`",
                path.display()
            ),
            idp: None,
        });
    }
    let found: Vec<&Subscription> = match wanted {
        None => in_cloud.into_iter().filter(|s| s.is_default).collect(),
        Some(w) => in_cloud
            .into_iter()
            .filter(|s| s.id.eq_ignore_ascii_case(w) || s.name.to_lowercase() == w.to_lowercase())
            .collect(),
    };
    match (found.as_slice(), wanted) {
        ([one], _) => Ok(one),
        ([], Some(w)) => Err(Error::azure_cli(
            path,
            format!("has no subscription {w:?} in cloud {cloud}; list them with `az account list`"),
        )),
        ([], None) => Err(Error::azure_cli(
            path,
            format!("has no default subscription in cloud {cloud}; choose one with `az account set`"),
        )),
        (_, w) => Err(Error::azure_cli(
            path,
            format!("has several subscriptions named {:?}; give the subscription id", w.unwrap_or_default()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, body: &[u8]) -> std::path::PathBuf {
        let p =
            std::env::temp_dir().join(format!("msal-client-azprofile-{}-{name}.json", std::process::id()));
        std::fs::write(&p, body).unwrap();
        p
    }

    const PROFILE: &str = r#"{"installationId":"i","subscriptions":[
        {"id":"s1","name":"Dev","state":"Enabled","user":{"name":"alice@contoso.example","type":"user"},
         "isDefault":false,"tenantId":"t1","environmentName":"AzureCloud"},
        {"id":"s2","name":"Prod","state":"Enabled","user":{"name":"app-id","type":"servicePrincipal"},
         "isDefault":true,"tenantId":"t2","environmentName":"AzureCloud"},
        {"id":"s3","name":"VM","state":"Enabled","user":{"name":"systemAssignedIdentity","type":"servicePrincipal",
         "assignedIdentityInfo":"MSI"},"isDefault":false,"tenantId":"t3","environmentName":"AzureCloud"},
        {"id":"s4","name":"Dev","state":"Enabled","user":{"name":"bob@fabrikam.example","type":"user"},
         "isDefault":true,"tenantId":"t4","environmentName":"AzureChinaCloud"}]}"#;

    #[test]
    fn bom_default_by_id_or_name_and_cloud() {
        let mut body = b"\xef\xbb\xbf".to_vec();
        body.extend_from_slice(PROFILE.as_bytes());
        let p = write("bom", &body);
        let subs = load(&p, false).unwrap();
        let default = select(&subs, "AzureCloud", None, &p).unwrap();
        assert_eq!(
            (default.id.as_str(), &default.identity),
            ("s2", &SignedIn::ServicePrincipal("app-id".into()))
        );
        assert_eq!(select(&subs, "AzureCloud", Some("DEV"), &p).unwrap().tenant_id, "t1");
        assert_eq!(select(&subs, "AzureCloud", Some("S3"), &p).unwrap().identity, SignedIn::ManagedIdentity);
        assert_eq!(select(&subs, "AzureChinaCloud", Some("dev"), &p).unwrap().id, "s4");
        assert!(matches!(select(&subs, "AzureCloud", Some("nope"), &p), Err(Error::AzureCli { .. })));
        let e = select(&subs, "AzureUSGovernment", None, &p).unwrap_err();
        assert!(e.is_interaction_required(), "{e}");
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn missing_is_empty_and_garbage_is_an_error() {
        assert!(load(Path::new("/nonexistent/azureProfile.json"), false).unwrap().is_empty());
        let p = write("garbage", b"\xef\xbb\xbf{not json");
        let e = load(&p, false).unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
        std::fs::remove_file(p).unwrap();
    }
}

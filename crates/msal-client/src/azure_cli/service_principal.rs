//! `service_principal_entries.json` (`.bin`, DPAPI-encrypted, when the token
//! cache is encrypted): the credentials of service principals that ran
//! `az login --service-principal` (azure-cli-core 2.91 `auth/identity.py`:
//! `ServicePrincipalStore.load_entry`, `ServicePrincipalAuth`; `persistence.py`
//! `build_persistence`). A JSON array of objects with `client_id`, `tenant`
//! and one of `client_secret`, `certificate` (the path of a PEM file holding
//! the private key and the certificate, with `use_cert_sn_issuer` to send the
//! certificate chain) or `client_assertion` (a federated token).

use std::path::{Path, PathBuf};

use msal_extensions::{DpapiPersistence, FilePersistence, Persistence, Secret};
use serde_json::Value;

use crate::credential::{ClientCertificate, ClientCredential};
use crate::error::{Error, Result};

/// The store's path: `.bin` (DPAPI) when Azure CLI encrypts its caches, else `.json`.
pub(crate) fn path(dir: &Path, encrypt: bool) -> PathBuf {
    dir.join(if encrypt { "service_principal_entries.bin" } else { "service_principal_entries.json" })
}

/// One entry; the secret is kept out of `Debug`.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) client_id: String,
    pub(crate) tenant: String,
    secret: Option<Secret>,
    certificate: Option<PathBuf>,
    use_cert_sn_issuer: bool,
    has_assertion: bool,
}

/// The entries in the store; none when it does not exist.
pub(crate) fn load(dir: &Path, encrypt: bool) -> Result<Vec<Entry>> {
    let path = path(dir, encrypt);
    let persistence: Box<dyn Persistence> = if encrypt && cfg!(windows) {
        Box::new(DpapiPersistence::new(&path)?)
    } else if encrypt {
        return Err(unsupported_encryption());
    } else {
        Box::new(FilePersistence::new(&path)?)
    };
    let text = match persistence.load() {
        Ok(t) => Secret::new(t),
        Err(msal_extensions::Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    // Never quote the content in errors: it holds secrets.
    let doc: Value = serde_json::from_str(text.expose()).map_err(|_| {
        Error::azure_cli(&path, "is not valid JSON; run `az login --service-principal` again")
    })?;
    let entries = doc.as_array().ok_or_else(|| Error::azure_cli(&path, "is not a JSON array"))?;
    Ok(entries.iter().filter_map(parse).collect())
}

fn parse(v: &Value) -> Option<Entry> {
    let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    Some(Entry {
        client_id: text("client_id")?.to_owned(),
        tenant: text("tenant").unwrap_or_default().to_owned(),
        secret: text("client_secret").map(Secret::new),
        certificate: text("certificate").map(PathBuf::from),
        use_cert_sn_issuer: v.get("use_cert_sn_issuer").is_some_and(|b| b.as_bool() == Some(true)),
        has_assertion: text("client_assertion").is_some(),
    })
}

/// `ServicePrincipalStore.load_entry`: the entry for `client_id` in
/// `tenant`, else (as Azure CLI, "assuming that is an app credential") the
/// first entry for `client_id` in any tenant.
pub(crate) fn pick<'a>(
    entries: &'a [Entry],
    client_id: &str,
    tenant: &str,
    path: &Path,
) -> Result<&'a Entry> {
    let mut matched = entries.iter().filter(|e| e.client_id == client_id).peekable();
    let first = matched.peek().copied().ok_or_else(|| Error::InteractionRequired {
        reason: format!(
            "no credential for service principal {client_id} in {}; run `az login --service-principal` for it",
            path.display()
        ),
        idp: None,
    })?;
    Ok(matched.find(|e| e.tenant == tenant).unwrap_or(first))
}

impl Entry {
    /// The client credential, as `ServicePrincipalAuth.get_msal_client_credential` builds it.
    pub(crate) fn credential(&self, store: &Path) -> Result<ClientCredential> {
        if let Some(s) = &self.secret {
            return Ok(ClientCredential::Secret(s.clone()));
        }
        if let Some(cert_path) = &self.certificate {
            let pem = std::fs::read(cert_path).map_err(|e| Error::AzureCli {
                path: cert_path.clone(),
                reason: format!("the certificate of service principal {} cannot be read", self.client_id),
                source: Some(Box::new(e)),
            })?;
            // Azure CLI's PEM file holds both the key and the certificate.
            let cert = ClientCertificate::from_pem(&pem, &pem)?.send_x5c(self.use_cert_sn_issuer);
            return Ok(ClientCredential::certificate(cert));
        }
        if self.has_assertion {
            return Err(Error::Unsupported {
                what: "a service principal signed in with a federated token (`az login --federated-token`)"
                    .into(),
                reason:
                    "the token Azure CLI stored is short-lived and cannot be renewed here; use the Azure \
                         SDK's WorkloadIdentityCredential or ClientAssertionCredential"
                        .into(),
            });
        }
        Err(Error::azure_cli(
            store,
            format!(
                "the entry of service principal {} has no client_secret, certificate or client_assertion; \
                 run `az login --service-principal` again",
                self.client_id
            ),
        ))
    }
}

pub(crate) fn unsupported_encryption() -> Error {
    Error::Unsupported {
        what: "Azure CLI's encrypted token cache on Linux and macOS (core.encrypt_token_cache=true)".into(),
        reason: "Azure CLI keeps it under placeholder secret-store names; run \
                 `az config set core.encrypt_token_cache=false` and `az login` again"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_pick_by_tenant_then_any() {
        let dir = std::env::temp_dir().join(format!("msal-client-azsp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            path(&dir, false),
            r#"[{"client_id":"a","tenant":"t1","client_secret":"s-1"},
                {"client_id":"a","tenant":"t2","client_secret":"s-2"},
                {"client_id":"b","tenant":"t1","certificate":"/nope.pem","use_cert_sn_issuer":true},
                {"client_id":"c","tenant":"t1","client_assertion":"eyJ..."}]"#,
        )
        .unwrap();
        let entries = load(&dir, false).unwrap();
        let p = path(&dir, false);
        assert_eq!(pick(&entries, "a", "t2", &p).unwrap().tenant, "t2");
        assert_eq!(pick(&entries, "a", "t9", &p).unwrap().tenant, "t1", "Azure CLI falls back to the first");
        assert!(pick(&entries, "z", "t1", &p).unwrap_err().is_interaction_required());
        let ClientCredential::Secret(s) = pick(&entries, "a", "t2", &p).unwrap().credential(&p).unwrap()
        else {
            panic!("a secret")
        };
        assert_eq!(s.expose(), "s-2");
        let e = pick(&entries, "b", "t1", &p).unwrap().credential(&p).unwrap_err();
        assert!(matches!(&e, Error::AzureCli { path, .. } if path == Path::new("/nope.pem")), "{e}");
        let e = pick(&entries, "c", "t1", &p).unwrap().credential(&p).unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }), "{e}");
        assert!(!format!("{entries:?}").contains("s-1"), "secrets stay out of Debug");
        std::fs::write(path(&dir, false), "[{\"client_secret\": \"s3cret\"").unwrap();
        let e = load(&dir, false).unwrap_err();
        assert!(!format!("{e} {e:?}").contains("s3cret"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

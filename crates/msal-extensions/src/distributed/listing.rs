//! What an operator tool may show about a partition: entries' metadata and
//! fingerprints of their secrets, never the secrets.

use std::fmt;

use super::partition::Sub;
use crate::cache::{Secret, TokenCache};

/// The kind of an MSAL cache entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// An `AccessToken` entry.
    AccessToken,
    /// A `RefreshToken` entry.
    RefreshToken,
    /// An `IdToken` entry.
    IdToken,
    /// An `Account` entry.
    Account,
    /// An `AppMetadata` entry.
    AppMetadata,
}

/// One entry of a partition, without its secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EntryInfo {
    /// What it is.
    pub kind: EntryKind,
    /// The resource whose document holds it (access tokens), else `None`.
    pub resource: Option<String>,
    /// `client_id`, when the entry has one.
    pub client_id: Option<String>,
    /// `home_account_id`, when the entry has one.
    pub home_account_id: Option<String>,
    /// `environment` (authority host).
    pub environment: Option<String>,
    /// `realm` (tenant), when the entry has one.
    pub realm: Option<String>,
    /// `target` (scopes), for access and refresh tokens.
    pub target: Option<String>,
    /// `username`, for accounts.
    pub username: Option<String>,
    /// `expires_on` (unix seconds), for access tokens.
    pub expires_on: Option<i64>,
    /// `family_id` (`"1"` for Microsoft's family of client ids), for refresh tokens.
    pub family_id: Option<String>,
    /// `sha256:` and the first 8 hex digits of the SHA-256 of the secret,
    /// for tokens: enough to tell two tokens apart, useless to an attacker.
    pub fingerprint: Option<String>,
}

impl fmt::Debug for EntryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntryInfo")
            .field("kind", &self.kind)
            .field("resource", &self.resource)
            .field("client_id", &self.client_id)
            .field("home_account_id", &self.home_account_id)
            .field("target", &self.target)
            .field("expires_on", &self.expires_on)
            .field("family_id", &self.family_id)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl EntryInfo {
    fn new(kind: EntryKind) -> Self {
        EntryInfo {
            kind,
            resource: None,
            client_id: None,
            home_account_id: None,
            environment: None,
            realm: None,
            target: None,
            username: None,
            expires_on: None,
            family_id: None,
            fingerprint: None,
        }
    }
}

/// The entries of one stored document.
pub(crate) fn entries(sub: &Sub, doc: &TokenCache, out: &mut Vec<EntryInfo>) {
    let resource = match sub {
        Sub::Resource(r) => Some(r.clone()),
        Sub::Base => None,
    };
    for (_, at) in doc.access_tokens() {
        out.push(EntryInfo {
            resource: resource.clone(),
            client_id: at.client_id.clone(),
            home_account_id: at.home_account_id.clone(),
            environment: at.environment.clone(),
            realm: at.realm.clone(),
            target: at.target.clone(),
            expires_on: at.expires_on,
            fingerprint: at.secret.as_ref().map(Secret::fingerprint),
            ..EntryInfo::new(EntryKind::AccessToken)
        });
    }
    for (_, rt) in doc.refresh_tokens() {
        out.push(EntryInfo {
            client_id: rt.client_id.clone(),
            home_account_id: rt.home_account_id.clone(),
            environment: rt.environment.clone(),
            target: rt.target.clone(),
            family_id: rt.family_id.clone(),
            fingerprint: rt.secret.as_ref().map(Secret::fingerprint),
            ..EntryInfo::new(EntryKind::RefreshToken)
        });
    }
    for (_, it) in doc.id_tokens() {
        out.push(EntryInfo {
            client_id: it.client_id.clone(),
            home_account_id: it.home_account_id.clone(),
            environment: it.environment.clone(),
            realm: it.realm.clone(),
            fingerprint: it.secret.as_ref().map(Secret::fingerprint),
            ..EntryInfo::new(EntryKind::IdToken)
        });
    }
    for a in doc.accounts() {
        out.push(EntryInfo {
            home_account_id: a.home_account_id.clone(),
            environment: a.environment.clone(),
            realm: a.realm.clone(),
            username: a.username.clone(),
            ..EntryInfo::new(EntryKind::Account)
        });
    }
    for (_, m) in doc.app_metadata() {
        out.push(EntryInfo {
            client_id: m.client_id.clone(),
            environment: m.environment.clone(),
            ..EntryInfo::new(EntryKind::AppMetadata)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_match_the_cli() {
        assert_eq!(Secret::new("abc").fingerprint(), "sha256:ba7816bf");
    }
}

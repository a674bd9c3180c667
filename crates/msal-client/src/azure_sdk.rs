//! The Azure SDK for Rust: [`TokenCredential`]s backed by the shared MSAL
//! cache (feature `azure-core`), so SDK clients get tokens from the cache
//! Azure CLI, Azure Identity and MSAL use, renewed silently, in
//! milliseconds instead of an `az` process per token.
//!
//! # Which type do I want?
//!
//! | you have | use |
//! |---|---|
//! | `azure_identity::AzureCliCredential::new(None)?` | [`AzureCliCredential::new(None)?`](AzureCliCredential::new): same name, same options (`subscription`, `tenant_id`), change the `use` line |
//! | a [`PublicClient`] and the user's [`Account`] (after a device-code or browser sign-in) | [`SharedCacheCredential::user`] |
//! | a [`ConfidentialClient`] with a secret or certificate | [`SharedCacheCredential::application`] |
//!
//! # Switching from `az` in one line
//! ```no_run
//! # async fn demo() -> azure_core::Result<()> {
//! use azure_core::credentials::TokenCredential;
//! // before: use azure_identity::AzureCliCredential;
//! use msal_client::azure_sdk::AzureCliCredential;
//!
//! let credential = AzureCliCredential::new(None)?;
//! let token = credential.get_token(&["https://management.azure.com/.default"], None).await?;
//! # let _ = token;
//! # Ok(()) }
//! ```
//!
//! # Async without blocking the executor
//! `msal-client` is blocking (file locks, HTTP through `ureq`). `get_token`
//! runs it on the `blocking` crate's thread pool (`blocking::unblock`), which
//! works under any executor (tokio, async-std, smol, `futures`' own) and
//! keeps the executor's threads free while a token is renewed; azure_core's
//! own `async_runtime` has no blocking-task facility (its `spawn` runs a
//! future, on a tokio worker under tokio). A cached token costs one hop to
//! that pool; azure_core's `BearerTokenAuthorizationPolicy` keeps the token
//! between requests anyway.
//!
//! # Errors
//! Failures are `azure_core::Error`s of kind
//! [`ErrorKind::Credential`] whose
//! source is this crate's [`Error`]: match
//! [`Error::InteractionRequired`] to tell "sign in again" apart. No token or
//! secret is in any message.

use std::fmt;
use std::sync::Arc;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use azure_core::error::ErrorKind;
use azure_core::time::OffsetDateTime;
use msal_extensions::Persistence;

use crate::azure_cli::{AzureCli, AzureCliRequest};
use crate::clients::{ConfidentialClient, PublicClient};
use crate::error::Error;
use crate::result::Account;

/// Options of [`AzureCliCredential`], named as `azure_identity`'s (and, like
/// them, built with `..Default::default()` so that fields can be added).
#[derive(Debug, Clone, Default)]
pub struct AzureCliCredentialOptions {
    /// A subscription id or name instead of Azure CLI's default one
    /// (`az account get-access-token --subscription`).
    pub subscription: Option<String>,
    /// A tenant instead of the subscription's (`--tenant`).
    pub tenant_id: Option<String>,
    /// The Azure CLI state to use (default: [`AzureCli::new`], i.e.
    /// `$AZURE_CONFIG_DIR` or `~/.azure`).
    pub source: Option<AzureCli>,
}

/// The identity signed in to Azure CLI, from Azure CLI's token cache: what
/// `azure_identity::AzureCliCredential` gives, without running `az`.
///
/// # Examples
/// ```no_run
/// use msal_client::azure_sdk::{AzureCliCredential, AzureCliCredentialOptions};
/// let mut options = AzureCliCredentialOptions::default();
/// options.tenant_id = Some("contoso.onmicrosoft.com".into());
/// let credential = AzureCliCredential::new(Some(options))?;
/// # let _ = credential;
/// # Ok::<(), azure_core::Error>(())
/// ```
#[derive(Debug)]
pub struct AzureCliCredential {
    source: Arc<AzureCli>,
    subscription: Option<String>,
    tenant_id: Option<String>,
}

impl AzureCliCredential {
    /// A credential for whoever is signed in to Azure CLI.
    ///
    /// # Errors
    /// [`ErrorKind::Credential`] when Azure CLI's folder is unknown (no home
    /// folder), `REQUESTS_CA_BUNDLE` cannot be read, or both a subscription
    /// and a tenant are given.
    pub fn new(options: Option<AzureCliCredentialOptions>) -> azure_core::Result<Arc<Self>> {
        let o = options.unwrap_or_default();
        if o.subscription.is_some() && o.tenant_id.is_some() {
            return Err(credential_error(Error::invalid(
                "options",
                "give a subscription or a tenant, not both",
            )));
        }
        let source = match o.source {
            Some(s) => s,
            None => AzureCli::new().map_err(credential_error)?,
        };
        Ok(Arc::new(AzureCliCredential {
            source: Arc::new(source),
            subscription: o.subscription,
            tenant_id: o.tenant_id,
        }))
    }
}

#[async_trait::async_trait]
impl TokenCredential for AzureCliCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let mut request = AzureCliRequest::new();
        request.scopes = owned(scopes)?;
        request.subscription = self.subscription.clone();
        request.tenant = self.tenant_id.clone();
        let source = self.source.clone();
        let token =
            blocking::unblock(move || source.get_access_token(&request)).await.map_err(credential_error)?;
        access_token(token.access_token.expose(), token.expires_on)
    }
}

/// A user's or an application's tokens from a shared MSAL cache, through
/// this crate's clients (silent acquisition, renewal shared across processes).
///
/// # Examples
/// ```no_run
/// use std::sync::Arc;
/// use msal_client::{Authority, PublicClient};
/// use msal_client::azure_sdk::SharedCacheCredential;
/// use msal_extensions::{FilePersistence, PersistedTokenCache};
/// let cache = Arc::new(PersistedTokenCache::new(FilePersistence::new("/home/me/.azure/msal_token_cache.json")?));
/// let app = PublicClient::new("04b07795-8ddb-461a-bbee-02f9e1bf7b46", cache)
///     .with_authority(Authority::public_cloud("organizations")?);
/// let account = app.accounts()?.into_iter().next().ok_or("nobody signed in")?;
/// let credential = SharedCacheCredential::user(app, account);
/// # let _ = credential;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SharedCacheCredential<P: Persistence + 'static> {
    client: Client<P>,
}

enum Client<P: Persistence + 'static> {
    User(Arc<PublicClient<P>>, Account),
    Application(Arc<ConfidentialClient<P>>),
}

impl<P: Persistence + 'static> SharedCacheCredential<P> {
    /// Tokens of `account`, acquired silently by `client`.
    pub fn user(client: impl Into<Arc<PublicClient<P>>>, account: Account) -> Arc<Self> {
        Arc::new(SharedCacheCredential { client: Client::User(client.into(), account) })
    }

    /// Application tokens of `client` (client credentials).
    pub fn application(client: impl Into<Arc<ConfidentialClient<P>>>) -> Arc<Self> {
        Arc::new(SharedCacheCredential { client: Client::Application(client.into()) })
    }
}

impl<P: Persistence + 'static> fmt::Debug for SharedCacheCredential<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.client {
            Client::User(c, a) => {
                f.debug_struct("SharedCacheCredential").field("client", c).field("account", a).finish()
            }
            Client::Application(c) => f.debug_struct("SharedCacheCredential").field("client", c).finish(),
        }
    }
}

#[async_trait::async_trait]
impl<P: Persistence + 'static> TokenCredential for SharedCacheCredential<P> {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        let scopes = owned(scopes)?;
        let result = match &self.client {
            Client::User(c, a) => {
                let (c, a) = (c.clone(), a.clone());
                blocking::unblock(move || c.acquire_token_silent(&a, &refs(&scopes))).await
            }
            Client::Application(c) => {
                let c = c.clone();
                blocking::unblock(move || c.acquire_token_for_client(&refs(&scopes))).await
            }
        };
        let result = result.map_err(credential_error)?;
        access_token(result.access_token.expose(), result.expires_on)
    }
}

fn owned(scopes: &[&str]) -> azure_core::Result<Vec<String>> {
    if scopes.is_empty() {
        return Err(azure_core::Error::with_message(ErrorKind::Credential, "at least one scope is required"));
    }
    Ok(scopes.iter().map(|s| (*s).to_owned()).collect())
}

fn refs(scopes: &[String]) -> Vec<&str> {
    scopes.iter().map(String::as_str).collect()
}

fn access_token(token: &str, expires_on: i64) -> azure_core::Result<AccessToken> {
    let expires_on = OffsetDateTime::from_unix_timestamp(expires_on)
        .map_err(|e| azure_core::Error::new(ErrorKind::DataConversion, e))?;
    Ok(AccessToken::new(token.to_owned(), expires_on))
}

fn credential_error(e: Error) -> azure_core::Error {
    azure_core::Error::new(ErrorKind::Credential, e)
}

//! [`PublicClient`] (apps a user runs: CLIs, desktop tools) and
//! [`ConfidentialClient`] (services that hold a secret or certificate).

use std::sync::Arc;
use std::time::Duration;

use msal_extensions::{PersistedTokenCache, Persistence};

use crate::authority::Authority;
use crate::core::Core;
use crate::credential::{ClientCredential, Credential};
use crate::device_code::DeviceCodeInfo;
use crate::error::Result;
use crate::http::HttpOptions;
use crate::interactive::InteractiveOptions;
use crate::result::{Account, AuthenticationResult, SilentOptions};

/// Methods both clients have, written once.
macro_rules! common_methods {
    () => {
        /// The authority (default: `common` on the public cloud).
        pub fn with_authority(mut self, authority: Authority) -> Self {
            self.core.authority = authority;
            self
        }

        /// Timeouts, retries, trusted roots and user agent of requests.
        pub fn with_http(mut self, options: HttpOptions) -> Self {
            self.core.set_http(options);
            self
        }

        /// How long a process waits for another process renewing the same
        /// token before renewing itself (default: the worst case of one
        /// request with its retries, plus 10 s).
        pub fn with_renewal_wait(mut self, wait: Duration) -> Self {
            self.core.renewal_wait = Some(wait);
            self
        }

        /// The application (client) id.
        pub fn client_id(&self) -> &str {
            &self.core.client_id
        }

        /// The authority in use.
        pub fn authority(&self) -> &Authority {
            &self.core.authority
        }

        /// The token cache.
        pub fn cache(&self) -> &Arc<PersistedTokenCache<P>> {
            &self.core.cache
        }

        /// The signed-in users in the cache for this authority's cloud, one
        /// per `home_account_id` (what MSAL's `get_accounts` returns).
        ///
        /// # Errors
        /// [`Error::Cache`](crate::Error::Cache) when the cache cannot be read.
        pub fn accounts(&self) -> Result<Vec<Account>> {
            self.core.accounts()
        }

        /// The account whose username is `username` (case-insensitive).
        ///
        /// # Errors
        /// As [`accounts`](Self::accounts).
        pub fn account_by_username(&self, username: &str) -> Result<Option<Account>> {
            Ok(self.core.accounts()?.into_iter().find(|a| a.username.eq_ignore_ascii_case(username)))
        }

        /// A token for `account` without user interaction: a valid cached
        /// access token (no request), or one renewed with the account's
        /// refresh token (the app's own, or its family's), shared with every
        /// other process renewing the same account at the same time.
        ///
        /// # Errors
        /// [`Error::InteractionRequired`](crate::Error::InteractionRequired)
        /// when no refresh token is cached or the identity provider refused
        /// it (with the claims challenge, if any); transport, provider and
        /// cache errors otherwise.
        pub fn acquire_token_silent(
            &self,
            account: &Account,
            scopes: &[&str],
        ) -> Result<AuthenticationResult> {
            self.core.silent(account, scopes, &SilentOptions::default())
        }

        /// [`acquire_token_silent`](Self::acquire_token_silent) with a claims
        /// challenge or a forced refresh.
        ///
        /// # Errors
        /// As [`acquire_token_silent`](Self::acquire_token_silent).
        pub fn acquire_token_silent_with(
            &self,
            account: &Account,
            scopes: &[&str],
            options: &SilentOptions,
        ) -> Result<AuthenticationResult> {
            self.core.silent(account, scopes, options)
        }

        /// Redeems a refresh token obtained elsewhere (a migration) and
        /// stores the result.
        ///
        /// # Errors
        /// Transport, provider and cache errors.
        pub fn acquire_token_by_refresh_token(
            &self,
            refresh_token: &str,
            scopes: &[&str],
        ) -> Result<AuthenticationResult> {
            self.core.by_refresh_token(refresh_token, scopes)
        }

        /// Removes the account and all its tokens from the cache (sign-out).
        /// Returns how many entries were removed.
        ///
        /// # Errors
        /// [`Error::Cache`](crate::Error::Cache).
        pub fn remove_account(&self, account: &Account) -> Result<usize> {
            self.core.remove_account(account)
        }
    };
}

/// An application a user runs: signs users in (device code, browser) and
/// gets their tokens silently afterwards.
///
/// # Examples
/// ```no_run
/// use std::sync::Arc;
/// use msal_client::{Authority, PublicClient};
/// use msal_extensions::{FilePersistence, PersistedTokenCache};
/// let cache = Arc::new(PersistedTokenCache::new(FilePersistence::new("/tmp/msal_token_cache.json")?));
/// let app = PublicClient::new("04b07795-8ddb-461a-bbee-02f9e1bf7b46", cache)
///     .with_authority(Authority::public_cloud("organizations")?);
/// let scopes = ["https://management.azure.com/.default"];
/// let token = match app.accounts()?.first() {
///     Some(account) => app.acquire_token_silent(account, &scopes)?,
///     None => app.acquire_token_by_device_code(&scopes, |info| eprintln!("{}", info.message))?,
/// };
/// println!("expires at {}", token.expires_on);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PublicClient<P: Persistence> {
    core: Core<P>,
}

impl<P: Persistence> PublicClient<P> {
    /// A client with id `client_id` keeping its tokens in `cache`.
    pub fn new(client_id: &str, cache: Arc<PersistedTokenCache<P>>) -> Self {
        PublicClient { core: Core::new(client_id, cache, None) }
    }

    common_methods!();

    /// Signs a user in with a device code: `prompt` receives the code and
    /// URL to show; this call then waits until the user approves on any
    /// device, declines, or the code expires.
    ///
    /// # Errors
    /// [`Error::Timeout`](crate::Error::Timeout) when the code expires;
    /// [`Error::IdentityProvider`](crate::Error::IdentityProvider) when the
    /// user declines; transport and cache errors.
    pub fn acquire_token_by_device_code(
        &self,
        scopes: &[&str],
        prompt: impl FnOnce(&DeviceCodeInfo),
    ) -> Result<AuthenticationResult> {
        self.core.device_code(scopes, None, prompt)
    }

    /// [`acquire_token_by_device_code`](Self::acquire_token_by_device_code)
    /// answering a claims challenge.
    ///
    /// # Errors
    /// As [`acquire_token_by_device_code`](Self::acquire_token_by_device_code).
    pub fn acquire_token_by_device_code_with_claims(
        &self,
        scopes: &[&str],
        claims: &str,
        prompt: impl FnOnce(&DeviceCodeInfo),
    ) -> Result<AuthenticationResult> {
        self.core.device_code(scopes, Some(claims), prompt)
    }

    /// Signs a user in through the browser: authorization code with PKCE,
    /// redirected to a loopback listener on `127.0.0.1`.
    ///
    /// # Errors
    /// [`Error::Timeout`](crate::Error::Timeout) when nobody comes back in
    /// time; [`Error::Interactive`](crate::Error::Interactive) when the
    /// listener cannot be opened; provider, transport and cache errors.
    pub fn acquire_token_interactive(
        &self,
        scopes: &[&str],
        options: InteractiveOptions,
    ) -> Result<AuthenticationResult> {
        self.core.interactive(scopes, options)
    }
}

/// A service that authenticates as itself with a secret or a certificate:
/// application tokens (client credentials), and user tokens it holds
/// refresh tokens for.
///
/// # Examples
/// ```no_run
/// use std::sync::Arc;
/// use msal_client::{Authority, ClientCredential, ConfidentialClient};
/// use msal_extensions::{FilePersistence, PersistedTokenCache};
/// let cache = Arc::new(PersistedTokenCache::new(FilePersistence::new("/tmp/app_cache.json")?));
/// let app = ConfidentialClient::new("my-app-id", ClientCredential::secret("s3cret"), cache)
///     .with_authority(Authority::public_cloud("contoso.onmicrosoft.com")?);
/// let token = app.acquire_token_for_client(&["https://graph.microsoft.com/.default"])?;
/// # let _ = token;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ConfidentialClient<P: Persistence> {
    core: Core<P>,
}

impl<P: Persistence> ConfidentialClient<P> {
    /// A client with id `client_id` proving itself with `credential`,
    /// keeping its tokens in `cache`.
    pub fn new(client_id: &str, credential: ClientCredential, cache: Arc<PersistedTokenCache<P>>) -> Self {
        ConfidentialClient { core: Core::new(client_id, cache, Some(Credential::Ready(credential))) }
    }

    /// A client whose credential is built by `credential` when a request
    /// first needs it (never for a cache hit).
    pub(crate) fn with_deferred_credential(
        client_id: &str,
        credential: impl Fn() -> Result<ClientCredential> + Send + Sync + 'static,
        cache: Arc<PersistedTokenCache<P>>,
    ) -> Self {
        ConfidentialClient { core: Core::new(client_id, cache, Some(Credential::deferred(credential))) }
    }

    common_methods!();

    /// An application token (client credentials grant): from the cache
    /// when valid, else requested once for all processes sharing the cache.
    ///
    /// # Errors
    /// Provider (e.g. `invalid_client`), transport and cache errors.
    pub fn acquire_token_for_client(&self, scopes: &[&str]) -> Result<AuthenticationResult> {
        self.core.for_client(scopes, &SilentOptions::default())
    }

    /// [`acquire_token_for_client`](Self::acquire_token_for_client) with a
    /// claims challenge (skips the cache).
    ///
    /// # Errors
    /// As [`acquire_token_for_client`](Self::acquire_token_for_client).
    pub fn acquire_token_for_client_with(
        &self,
        scopes: &[&str],
        options: &SilentOptions,
    ) -> Result<AuthenticationResult> {
        self.core.for_client(scopes, options)
    }
}

impl<P: Persistence> std::fmt::Debug for Core<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("authority", &self.authority)
            .field("cache", &self.cache)
            .field("http", &self.http)
            .field("credential", &self.credential)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Clients are shared across threads (and async tasks) by the layers above.
    #[test]
    fn clients_are_send_sync() {
        fn assert<T: Send + Sync + std::fmt::Debug>() {}
        assert::<PublicClient<msal_extensions::FilePersistence>>();
        assert::<ConfidentialClient<msal_extensions::FilePersistence>>();
        assert::<crate::Error>();
    }
}

//! Acquire and renew Microsoft Entra ID tokens on the MSAL token cache that
//! Azure CLI, Azure Identity and MSAL Python, .NET and Node share.
//!
//! Every token this crate obtains is written into a
//! [`PersistedTokenCache`](msal_extensions::PersistedTokenCache) exactly as
//! MSAL Python writes it (same entries, keys and fields), and every token
//! it returns is read from there, so a user who signed in with any MSAL
//! program is signed in here too, and the other way round.
//!
//! # Which type do I want?
//!
//! | you want to | use |
//! |---|---|
//! | sign a user in from a CLI or desktop app, then get tokens silently | [`PublicClient`] ([`acquire_token_by_device_code`](PublicClient::acquire_token_by_device_code), [`acquire_token_interactive`](PublicClient::acquire_token_interactive), [`acquire_token_silent`](PublicClient::acquire_token_silent)) |
//! | get an application token with a secret or certificate | [`ConfidentialClient`] + [`ClientCredential`] ([`acquire_token_for_client`](ConfidentialClient::acquire_token_for_client)) |
//! | load a certificate and key for a signed client assertion | [`ClientCertificate`] |
//! | choose the cloud and tenant | [`Authority`] |
//! | set timeouts, retries, extra trusted root certificates | [`HttpOptions`] |
//! | list the signed-in users | [`PublicClient::accounts`] → [`Account`] |
//! | tell "sign in again" apart from other failures | [`Error::InteractionRequired`] |
//! | get what `az account get-access-token` gives, from Azure CLI's sign-in and cache, without running `az` | [`azure_cli::AzureCli`] |
//! | replace `azure_identity::AzureCliCredential` in the Azure SDK for Rust with one `use` line | `azure_sdk::AzureCliCredential` (feature `azure-core`) |
//! | give an Azure SDK client the tokens of a [`PublicClient`] account or a [`ConfidentialClient`] | `azure_sdk::SharedCacheCredential` (feature `azure-core`) |
//!
//! # Behaviour
//! - **MSAL's silent semantics.** A cached access token valid for more
//!   than 5 minutes is returned without a request; one past the
//!   `refresh_on` the identity provider gave (`refresh_in`) is renewed, and
//!   still served if the renewal fails; an expired one is renewed with the
//!   account's refresh token: the app's family (FOCI) token first, as MSAL
//!   does, then the app's own. A refused refresh token becomes
//!   [`Error::InteractionRequired`] carrying the claims challenge. Requests
//!   with claims skip cached access tokens.
//! - **One renewal for many processes.** When several processes need the
//!   same renewal at once, one makes the request and the others use its
//!   token: a *renewal lease* (a lockfile beside the cache, separate from
//!   the cache lock) is taken before calling out, the cache is re-read
//!   once the lease is held, and the cache lock itself is held only for
//!   the write. The wait for a lease is bounded by the worst case of one
//!   request, so a stuck process delays the others by at most that, and
//!   the cache lock is never held across a network call. Details in the
//!   `lease` module's source and `docs/design.md`.
//! - **No discovery round trip for Entra ID.** Known Entra hosts (and hosts
//!   declared Entra-compatible with [`Authority::entra`]) get their
//!   endpoints derived, as MSAL.NET does: a cold renewal is one HTTP request.
//!   Other OpenID Connect providers are discovered once per process.
//! - **Blocking and bounded.** HTTP through `ureq` (rustls): timeouts on
//!   connect and on every request, bounded retries of 429/5xx honouring
//!   `Retry-After`. Nothing is fetched or initialised before the first request,
//!   so a program whose token is cached pays only for reading the cache.
//!
//! # Security
//! Tokens, secrets, keys and request bodies never appear in `Debug`, in
//! error messages or in this crate's logs; URLs are shown without query.
//! Errors carry the identity provider's `error`, `error_description`
//! (AADSTS code), correlation and trace ids.
//!
//! # Example
//! ```no_run
//! use std::sync::Arc;
//! use msal_client::{Authority, Error, PublicClient};
//! use msal_extensions::{FilePersistence, PersistedTokenCache};
//!
//! let cache = Arc::new(PersistedTokenCache::new(FilePersistence::new("/home/me/.azure/msal_token_cache.json")?));
//! let az = PublicClient::new("04b07795-8ddb-461a-bbee-02f9e1bf7b46", cache)
//!     .with_authority(Authority::public_cloud("organizations")?);
//! let account = az.accounts()?.into_iter().next().ok_or("nobody signed in with `az login`")?;
//! match az.acquire_token_silent(&account, &["https://management.azure.com/.default"]) {
//!     Ok(token) => println!("Bearer {}", token.access_token.expose()),
//!     Err(Error::InteractionRequired { .. }) => eprintln!("run `az login` again"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The README's examples, compiled as doctests so they cannot rot. They live
/// here, in the top library of the workspace, because they use both crates.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

mod authority;
pub mod azure_cli;
#[cfg(feature = "azure-core")]
pub mod azure_sdk;
mod clients;
mod core;
mod credential;
mod crypto;
mod device_code;
mod error;
mod http;
mod interactive;
mod lease;
mod result;

pub use authority::{AZURE_CHINA, AZURE_PUBLIC, AZURE_US_GOVERNMENT, Authority, is_known_entra_host};
pub use clients::{ConfidentialClient, PublicClient};
pub use credential::{AssertionAlgorithm, ClientCertificate, ClientCredential};
pub use device_code::DeviceCodeInfo;
pub use error::{Error, IdpError, Result};
pub use http::HttpOptions;
pub use interactive::{InteractiveOptions, UrlCallback};
pub use msal_extensions::Secret;
pub use result::{Account, AuthenticationResult, SilentOptions, TokenSource};

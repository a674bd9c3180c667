//! A token cache for server fleets: an in-process L1 in front of Redis (L2),
//! shared by every process and machine of an application, that loses no
//! update, encrypts at rest, expires with its tokens and keeps serving
//! through a Redis outage. Feature `redis` (blocking API); `redis-async`
//! adds the async API on tokio.
//!
//! # Which type do I want?
//!
//! | you want to | use |
//! |---|---|
//! | configure the cache: Redis URL or cluster, key ring, bounds, event hook | [`DistributedCacheBuilder`] |
//! | look up and store tokens from threads | [`DistributedTokenCache`] |
//! | the same from async code (tokio) | `AsyncDistributedTokenCache` (feature `redis-async`) |
//! | say whose tokens: an app in a tenant, a user, an on-behalf-of call | [`Partition`] |
//! | encrypt, and rotate keys without downtime | [`KeyRing`] |
//! | know what happened: outages, queued or dropped writes | [`CacheEvent`], [`CacheMetrics`], [`WriteOutcome`] |
//! | list partitions and their entries in a tool (no secrets) | [`DistributedTokenCache::list_partitions`], [`EntryInfo`] |
//!
//! # How it works
//!
//! - **Partitions** are keyed like Microsoft.Identity.Web's: client id +
//!   tenant for app tokens, `home_account_id` for a user, a SHA-256 of the
//!   incoming assertion for on-behalf-of. A partition is stored as a base
//!   document (accounts, id and refresh tokens, app metadata) and one
//!   document per resource (the access tokens for one API), each an MSAL
//!   unified-schema cache that any MSAL can load once decrypted (app-only
//!   tokens are found by the libraries the builder's `write_convention`
//!   names: MSAL Python's form by default); a lookup
//!   reads one resource's document however many resources the partition
//!   has. All keys of a partition share one Redis Cluster hash tag.
//! - **No lost updates**: each document has a version; a write merges its
//!   entries into the version it knows and stores the result with a Lua
//!   compare-and-set; if another writer got there first, Redis answers with
//!   the newer version, the write merges into that and tries again, up to a
//!   bound ([`Error::ConflictRetriesExhausted`](crate::Error::ConflictRetriesExhausted) past it).
//! - **Expiry**: every key gets the expiry of its longest-lived token
//!   (refresh tokens included) and expired access tokens are dropped on write.
//! - **Encryption**: AES-256-GCM under a [`KeyRing`]; a value no key opens
//!   is [`Error::UnknownKey`](crate::Error::UnknownKey) naming the key id it was written with.
//! - **Outages**: every call returns within a bound; while Redis is down,
//!   lookups are answered from L1, writes go to L1 and a bounded queue
//!   replayed when a background probe finds Redis back, merged into the
//!   newest version: a replayed token never replaces a newer one another
//!   process wrote meanwhile. Events and metrics report it all.
//!
//! The repository's `docs/design.md` ("Distributed cache") gives the reasons.
//!
//! # Example
//!
//! ```no_run
//! use msal_extensions::distributed::{DistributedCacheBuilder, KeyRing, Partition, WriteOutcome};
//! use msal_extensions::{AccessTokenQuery, TokenResponse};
//!
//! # fn key_from_your_secret_store() -> [u8; 32] { [0; 32] }
//! let cache = DistributedCacheBuilder::new("redis://127.0.0.1:6379")
//!     .key_ring(KeyRing::new("2026-12", key_from_your_secret_store())?)
//!     .on_event(|e| eprintln!("token cache: {e:?}"))
//!     .build()?;
//!
//! let app = Partition::app("my-client-id", "contoso.onmicrosoft.com");
//! let response = TokenResponse::new(
//!     "my-client-id",
//!     ["https://graph.microsoft.com/.default"],
//!     "https://login.microsoftonline.com/contoso.onmicrosoft.com",
//!     r#"{"access_token": "eyJ...", "expires_in": 3599, "token_type": "Bearer"}"#,
//! )?;
//! assert_ne!(cache.add(&app, &response)?, WriteOutcome::Dropped);
//!
//! let query = AccessTokenQuery::new("my-client-id", ["https://graph.microsoft.com/.default"]);
//! let token = cache.access_token(&app, &query)?.expect("just stored");
//! # let _ = token;
//! # Ok::<(), msal_extensions::Error>(())
//! ```

#[cfg(feature = "redis-async")]
mod async_redis;
#[cfg(feature = "redis-async")]
mod asynch;
mod backend;
mod blocking;
mod builder;
mod combine;
mod crypto;
mod delta;
mod engine;
mod events;
mod l1;
mod listing;
mod ops;
mod partition;
mod queue;
mod servers;
mod sync_redis;

#[cfg(feature = "redis-async")]
pub use asynch::AsyncDistributedTokenCache;
pub use blocking::DistributedTokenCache;
pub use builder::DistributedCacheBuilder;
pub use crypto::KeyRing;
pub use events::{CacheEvent, CacheMetrics, WriteOutcome};
pub use listing::{EntryInfo, EntryKind};
pub use partition::{Partition, PartitionKind};

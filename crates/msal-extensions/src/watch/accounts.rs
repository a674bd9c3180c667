//! What a watcher remembers of a cache (its accounts, without secrets) and
//! the events that turn one such snapshot into the next.

use std::collections::BTreeMap;

use crate::cache::TokenCache;

/// An account as change events describe it: identifiers and names only,
/// never a token.
///
/// An account is identified by `home_account_id` **and** its cloud
/// (compared case-insensitively, like MSAL's cache keys): the same person
/// signed in to the public cloud and to a sovereign cloud is two accounts,
/// while the host aliases of one cloud (`login.microsoftonline.com`,
/// `login.windows.net`...; see [`environment_aliases`](crate::cache::environment_aliases))
/// are one.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountSummary {
    /// `uid.utid`: the account across tenants of one cloud.
    pub home_account_id: String,
    /// The authority host as the cache stores it, e.g.
    /// `login.microsoftonline.com` or `login.microsoftonline.us` (of several
    /// aliases of one cloud, the first in sort order).
    pub environment: String,
    /// The sign-in name, e.g. `ada@contoso.com`, when the cache records one.
    pub username: Option<String>,
    /// The tenants the account has signed in to (sorted, no duplicates).
    pub realms: Vec<String>,
}

/// One difference between the accounts of two versions of the cache.
///
/// One write that changes several accounts yields one event per account,
/// except when it leaves none of them (then one [`Cleared`](Self::Cleared)
/// or one [`Replaced`](Self::Replaced)). Writes that only touch tokens
/// (a token refresh, an app-only token) yield none.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEvent {
    /// An account appeared: someone signed in.
    AccountAdded(AccountSummary),
    /// An account disappeared: someone signed out.
    AccountRemoved(AccountSummary),
    /// An account stayed but its username or tenants changed; the value is
    /// the account as it is now.
    AccountChanged(AccountSummary),
    /// The cache was deleted, emptied, or found unreadable: it holds no
    /// account (and no token) now.
    Cleared,
    /// None of the previous accounts remain and others took their place (a
    /// restored or imported cache, or a sign-out and a sign-in seen as one
    /// change): forget what you knew; these are the accounts now.
    Replaced(Vec<AccountSummary>),
}

impl CacheEvent {
    /// A stable lowercase name of the kind of event, for logs and JSON
    /// output: `account-added`, `account-removed`, `account-changed`,
    /// `cleared`, `replaced`.
    pub fn kind(&self) -> &'static str {
        match self {
            CacheEvent::AccountAdded(_) => "account-added",
            CacheEvent::AccountRemoved(_) => "account-removed",
            CacheEvent::AccountChanged(_) => "account-changed",
            CacheEvent::Cleared => "cleared",
            CacheEvent::Replaced(_) => "replaced",
        }
    }

    /// The accounts the event is about: one for the account events, the new
    /// accounts for [`Replaced`](Self::Replaced), none for [`Cleared`](Self::Cleared).
    pub fn accounts(&self) -> &[AccountSummary] {
        match self {
            CacheEvent::AccountAdded(a) | CacheEvent::AccountRemoved(a) | CacheEvent::AccountChanged(a) => {
                std::slice::from_ref(a)
            }
            CacheEvent::Replaced(all) => all,
            CacheEvent::Cleared => &[],
        }
    }
}

/// The accounts of one version of the cache, keyed by (home account id,
/// cloud) in lowercase, and whether the cache held anything at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Snapshot {
    accounts: BTreeMap<(String, String), AccountSummary>,
    empty: bool,
}

impl Snapshot {
    /// The accounts of `cache` (tenant profiles of one account folded together).
    pub(crate) fn of(cache: &TokenCache) -> Self {
        let mut accounts: BTreeMap<(String, String), AccountSummary> = BTreeMap::new();
        for a in cache.accounts() {
            let hid = a.home_account_id.clone().unwrap_or_default();
            let env = a.environment.clone().unwrap_or_default();
            let cloud = crate::cache::environment_aliases(&env)[0].to_lowercase();
            let entry = accounts.entry((hid.to_lowercase(), cloud)).or_insert_with(|| AccountSummary {
                home_account_id: hid,
                environment: env.clone(),
                username: None,
                realms: Vec::new(),
            });
            if env < entry.environment {
                entry.environment = env;
            }
            // Tenant profiles of one account carry the same username; keep
            // the smallest so the summary does not depend on entry order.
            if let Some(u) = &a.username
                && entry.username.as_ref().is_none_or(|old| u < old)
            {
                entry.username = Some(u.clone());
            }
            if let Some(r) = &a.realm
                && let Err(at) = entry.realms.binary_search(r)
            {
                entry.realms.insert(at, r.clone());
            }
        }
        Snapshot { accounts, empty: cache.is_empty() }
    }

    /// The events that lead from `self` to `next`, in a stable order.
    pub(crate) fn diff(&self, next: &Snapshot) -> Vec<CacheEvent> {
        if next.empty {
            return if self.empty { Vec::new() } else { vec![CacheEvent::Cleared] };
        }
        let kept = next.accounts.keys().any(|k| self.accounts.contains_key(k));
        if !self.accounts.is_empty() && !next.accounts.is_empty() && !kept {
            return vec![CacheEvent::Replaced(next.accounts.values().cloned().collect())];
        }
        let removed = self
            .accounts
            .iter()
            .filter(|(k, _)| !next.accounts.contains_key(*k))
            .map(|(_, a)| CacheEvent::AccountRemoved(a.clone()));
        let added_or_changed = next.accounts.iter().filter_map(|(k, a)| match self.accounts.get(k) {
            None => Some(CacheEvent::AccountAdded(a.clone())),
            // Which alias of the cloud an entry is stored under is no change.
            Some(old) if (&old.username, &old.realms) != (&a.username, &a.realms) => {
                Some(CacheEvent::AccountChanged(a.clone()))
            }
            Some(_) => None,
        });
        removed.chain(added_or_changed).collect()
    }

    /// The accounts, for tests and the final-state checks.
    #[cfg(test)]
    pub(crate) fn accounts(&self) -> impl Iterator<Item = &AccountSummary> {
        self.accounts.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cache(accounts: &[(&str, &str, &str, &str)], extra_token: bool) -> TokenCache {
        let mut map = serde_json::Map::new();
        for (hid, env, realm, user) in accounts {
            map.insert(
                format!("{hid}-{env}-{realm}"),
                json!({"home_account_id": hid, "environment": env, "realm": realm, "username": user,
                       "authority_type": "MSSTS"}),
            );
        }
        let mut v = json!({"Account": map});
        if extra_token {
            v["AccessToken"] = json!({"k": {"credential_type": "AccessToken", "secret": "s", "client_id": "c",
                                             "environment": "login.microsoftonline.com", "realm": "r", "target": "t"}});
        }
        TokenCache::parse(&v.to_string()).unwrap()
    }

    fn diff(a: &TokenCache, b: &TokenCache) -> Vec<(&'static str, Vec<String>)> {
        Snapshot::of(a)
            .diff(&Snapshot::of(b))
            .iter()
            .map(|e| {
                (
                    e.kind(),
                    e.accounts().iter().map(|a| format!("{}@{}", a.home_account_id, a.environment)).collect(),
                )
            })
            .collect()
    }

    const PUB: &str = "login.microsoftonline.com";
    const US: &str = "login.microsoftonline.us";

    #[test]
    fn same_user_in_two_clouds_is_two_accounts() {
        let before = cache(&[("u.t", PUB, "t", "ada@contoso.com")], false);
        let after =
            cache(&[("u.t", PUB, "t", "ada@contoso.com"), ("u.t", US, "t", "ada@contoso.com")], false);
        assert_eq!(diff(&before, &after), [("account-added", vec![format!("u.t@{US}")])]);
        assert_eq!(diff(&after, &before), [("account-removed", vec![format!("u.t@{US}")])]);
    }

    #[test]
    fn aliases_of_one_cloud_are_one_account() {
        let public = cache(&[("u.t", PUB, "t", "ada")], false);
        let alias = cache(&[("u.t", "login.windows.net", "t", "ada")], false);
        let both = cache(&[("u.t", PUB, "t", "ada"), ("u.t", "login.windows.net", "t", "ada")], false);
        assert!(diff(&public, &alias).is_empty(), "moving to another alias is no change");
        assert!(diff(&public, &both).is_empty());
        assert_eq!(Snapshot::of(&both).accounts().count(), 1);
    }

    #[test]
    fn tenant_profiles_fold_into_one_account_and_a_new_tenant_is_a_change() {
        let one = cache(&[("u.t", PUB, "t", "ada@contoso.com")], false);
        let two =
            cache(&[("u.t", PUB, "t", "ada@contoso.com"), ("u.t", PUB, "other", "ada@contoso.com")], false);
        assert_eq!(Snapshot::of(&two).accounts().count(), 1);
        assert_eq!(diff(&one, &two), [("account-changed", vec![format!("u.t@{PUB}")])]);
    }

    #[test]
    fn keys_compare_case_insensitively() {
        let a = cache(&[("U.T", "Login.MicrosoftOnline.com", "t", "x")], false);
        let b = cache(&[("u.t", PUB, "t", "x")], false);
        assert_eq!(
            Snapshot::of(&a).accounts.keys().collect::<Vec<_>>(),
            Snapshot::of(&b).accounts.keys().collect::<Vec<_>>()
        );
    }

    #[test]
    fn tokens_alone_change_nothing() {
        let a = cache(&[("u.t", PUB, "t", "x")], false);
        let b = cache(&[("u.t", PUB, "t", "x")], true);
        assert!(diff(&a, &b).is_empty());
        assert!(diff(&TokenCache::new(), &TokenCache::new()).is_empty());
    }

    #[test]
    fn emptied_is_cleared_and_swapped_is_replaced() {
        let a = cache(&[("a.t", PUB, "t", "a")], true);
        let b = cache(&[("b.t", PUB, "t", "b")], false);
        assert_eq!(diff(&a, &TokenCache::new()), [("cleared", vec![])]);
        let app_only = cache(&[], true);
        assert_eq!(diff(&app_only, &TokenCache::new()), [("cleared", vec![])], "tokens gone is a clear too");
        assert_eq!(diff(&a, &b), [("replaced", vec![format!("b.t@{PUB}")])]);
        assert_eq!(diff(&TokenCache::new(), &b), [("account-added", vec![format!("b.t@{PUB}")])]);
        assert_eq!(diff(&a, &app_only), [("account-removed", vec![format!("a.t@{PUB}")])]);
    }
}

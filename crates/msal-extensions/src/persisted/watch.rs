//! The part of change notification that lives inside [`PersistedTokenCache`]:
//! its subscribers, the account snapshot they were last told about, and the
//! reload the watcher thread asks for. Everything else (events, the file
//! watcher, subscriptions) is in [`crate::watch`]. Without the `watch`
//! feature, [`Observers`] is an empty type whose hook does nothing.

/// Who made the change an observation is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// Another process, or another `PersistedTokenCache` on the same store.
    Peer,
    /// This `PersistedTokenCache` (reported only to subscribers who asked).
    Own,
}

#[cfg(not(feature = "watch"))]
#[derive(Default)]
pub(super) struct Observers;

#[cfg(not(feature = "watch"))]
impl Observers {
    #[inline]
    pub(super) fn observe(&self, _: &crate::TokenCache, _: crate::ChangeToken, _: Origin) {}
}

#[cfg(feature = "watch")]
pub(super) use imp::Observers;

#[cfg(feature = "watch")]
mod imp {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

    use super::Origin;
    use crate::cache::TokenCache;
    use crate::error::Result;
    use crate::persisted::PersistedTokenCache;
    use crate::persistence::{ChangeToken, Persistence};
    use crate::watch::{
        CacheEvent, CallbackSubscription, Registration, Sink, Snapshot, Subscription, Target, WatchOptions,
        new_callback, new_channel,
    };

    /// The subscribers of one cache. Costs one atomic load per write while
    /// nobody subscribes.
    #[derive(Default)]
    pub(in crate::persisted) struct Observers {
        /// `true` while registered with the watcher (some subscription exists
        /// or is being made).
        active: AtomicBool,
        inner: Mutex<Inner>,
    }

    #[derive(Default)]
    struct Inner {
        registration: Option<Registration>,
        /// Subscriptions being made (registered, baseline not yet taken).
        pending: usize,
        next_id: u64,
        subs: Vec<Sub>,
        /// The store version and accounts subscribers were last told about.
        last: Option<(ChangeToken, Snapshot)>,
    }

    struct Sub {
        id: u64,
        own_writes: bool,
        sink: Sink,
    }

    impl Observers {
        fn inner(&self) -> MutexGuard<'_, Inner> {
            // Fields are replaced whole; a panic cannot leave them half-written.
            self.inner.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Called with the cache as it is in the store at `token`, under the
        /// cross-process lock: reports what changed since the last call.
        pub(in crate::persisted) fn observe(&self, cache: &TokenCache, token: ChangeToken, origin: Origin) {
            if !self.active.load(Ordering::Acquire) {
                return;
            }
            let mut inner = self.inner();
            if inner.last.as_ref().is_some_and(|(t, _)| *t == token) {
                return;
            }
            let now = Snapshot::of(cache);
            let events = inner.last.take().map(|(_, before)| before.diff(&now)).unwrap_or_default();
            inner.last = Some((token, now));
            for sub in inner.subs.iter().filter(|s| origin == Origin::Peer || s.own_writes) {
                for e in &events {
                    sub.sink.send(e.clone());
                }
            }
        }

        /// `true` when subscribers were told about exactly this version.
        fn is_current(&self, token: ChangeToken) -> bool {
            self.inner().last.as_ref().is_some_and(|(t, _)| *t == token)
        }

        /// Ends a pending subscription, adding `sub` if it was made.
        fn finish(&self, sub: Option<Sub>) {
            let mut inner = self.inner();
            inner.pending -= 1;
            inner.subs.extend(sub);
            let gone = self.release_if_idle(&mut inner);
            drop(inner);
            drop(gone); // unregisters outside our lock
        }

        fn remove(&self, id: u64) {
            let mut inner = self.inner();
            inner.subs.retain(|s| s.id != id);
            let gone = self.release_if_idle(&mut inner);
            drop(inner);
            drop(gone);
        }

        /// With no subscription left: stop observing and hand back the
        /// registration for the caller to drop.
        fn release_if_idle(&self, inner: &mut Inner) -> Option<Registration> {
            if !inner.subs.is_empty() || inner.pending > 0 {
                return None;
            }
            self.active.store(false, Ordering::Release);
            inner.last = None;
            inner.registration.take()
        }
    }

    impl<P: Persistence + 'static> PersistedTokenCache<P> {
        /// Subscribes to changes made by others (other processes, or other
        /// `PersistedTokenCache` values on the same store): sign-ins,
        /// sign-outs, account changes, clears. See [`crate::watch`].
        ///
        /// The first subscription in the process starts the watcher; each
        /// call costs one round of the cross-process lock, under which the
        /// cache is reloaded if the store changed (the baseline: only changes
        /// after it are reported).
        ///
        /// # Errors
        /// [`Error::Unavailable`](crate::Error::Unavailable) when file
        /// notification cannot be set up (e.g. inotify limits reached);
        /// [`Error::Io`](crate::Error::Io) when the folder cannot be watched;
        /// the errors of a reload ([`Error::LockTimeout`](crate::Error::LockTimeout), the backend's).
        ///
        /// # Examples
        /// See [`crate::watch`].
        pub fn watch(self: &Arc<Self>) -> Result<Subscription> {
            self.watch_with(WatchOptions::default())
        }

        /// [`watch`](Self::watch) with options, e.g. to also hear about this
        /// cache's own writes.
        ///
        /// # Errors
        /// As [`watch`](Self::watch).
        pub fn watch_with(self: &Arc<Self>, options: WatchOptions) -> Result<Subscription> {
            self.subscribe(&options, |_| new_channel())
        }

        /// Calls `f` with every change, on the process's watcher thread (see
        /// [`CallbackSubscription`]). Drop the result to unsubscribe.
        ///
        /// # Errors
        /// As [`watch`](Self::watch).
        ///
        /// # Examples
        /// ```no_run
        /// use std::sync::Arc;
        /// use msal_extensions::{FilePersistence, PersistedTokenCache, WatchOptions};
        /// let cache = Arc::new(PersistedTokenCache::new(FilePersistence::new("~/.azure/msal_token_cache.json")?));
        /// let _subscription = cache.on_change(WatchOptions::new(), |event| {
        ///     for a in event.accounts() {
        ///         println!("{}: {} in {}", event.kind(), a.home_account_id, a.environment);
        ///     }
        /// })?;
        /// # Ok::<(), msal_extensions::Error>(())
        /// ```
        pub fn on_change(
            self: &Arc<Self>,
            options: WatchOptions,
            f: impl FnMut(CacheEvent) + Send + 'static,
        ) -> Result<CallbackSubscription> {
            self.subscribe(&options, |reg| new_callback(reg.sender(), Box::new(f)))
        }

        /// Registers with the watcher (if not yet), then, holding the
        /// cross-process lock, takes the baseline and adds the subscriber that
        /// `make` builds. Every `observe` runs under that lock, so no change
        /// can be reported between the baseline and the new subscriber's
        /// arrival (it would advance the baseline and reach only the others).
        fn subscribe<S, F>(
            self: &Arc<Self>,
            options: &WatchOptions,
            make: impl FnOnce(&Registration) -> (Sink, F),
        ) -> Result<S>
        where
            F: FnOnce(Arc<dyn Target>, u64) -> S,
        {
            let target: Arc<dyn Target> = self.clone();
            let (id, sink, finish) = {
                let mut inner = self.observers.inner();
                if inner.registration.is_none() {
                    let weak = Arc::downgrade(&target);
                    inner.registration = Some(Registration::new(weak, self.persistence.location())?);
                    self.observers.active.store(true, Ordering::Release);
                }
                inner.pending += 1;
                inner.next_id += 1;
                let (sink, finish) = make(inner.registration.as_ref().expect("registered above"));
                (inner.next_id, sink, finish)
            };
            let mut sub = Some(Sub { id, own_writes: options.own_writes, sink });
            let made = self.locked(|_| {
                // The baseline (`current` reloads if the store changed and
                // reports it): earlier subscribers hear about anything pending.
                drop(self.current()?);
                self.observers.finish(sub.take());
                // Dropped (unsubscribing) if releasing the lock fails.
                Ok(finish(target, id))
            });
            if sub.is_some() {
                // The lock or the reload failed before the subscriber was added.
                self.observers.finish(None);
            }
            made
        }

        /// For the watcher thread: reloads under the cross-process lock if
        /// the store changed since subscribers were last told, and tells
        /// them the differences.
        fn sync_for_watch(&self) -> Result<()> {
            if self.observers.is_current(self.persistence.change_token()?) {
                return Ok(()); // one `stat`, no lock: nothing new
            }
            // A short wait: the one watcher thread serves every cache in the
            // process, so a lock held long must not hold up the others' events
            // (a timeout is retried with backoff by the watcher).
            let timeout = self.lock_options.get_timeout().min(crate::watch::LOCK_WAIT);
            let lock = self.lock_options.clone().timeout(timeout).acquire(self.persistence.lock_path())?;
            // `current` reloads if the store changed and reports it to the observers.
            drop(self.current()?);
            lock.release()
        }
    }

    impl<P: Persistence + 'static> Target for PersistedTokenCache<P> {
        fn sync(&self) -> Result<()> {
            self.sync_for_watch()
        }

        fn unsubscribe(&self, id: u64) {
            self.observers.remove(id);
        }
    }
}

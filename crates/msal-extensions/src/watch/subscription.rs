//! The two forms of a subscription: a receiver of events ([`Subscription`])
//! and a callback run on the watcher thread ([`CallbackSubscription`]).

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::CacheEvent;
use super::hub::{Msg, Target};

/// Where a cache sends the events of one subscription.
pub(crate) enum Sink {
    Channel(mpsc::Sender<CacheEvent>),
    /// Queued to the dispatcher thread, which runs the callback.
    Callback {
        queue: mpsc::Sender<Msg>,
        slot: Weak<CallbackSlot>,
    },
}

impl Sink {
    pub(crate) fn send(&self, event: CacheEvent) {
        // A send fails only once the subscription is being dropped; it then
        // unsubscribes itself, so there is nothing to clean up here.
        let _ = match self {
            Sink::Channel(tx) => tx.send(event).map_err(drop),
            Sink::Callback { queue, slot } => queue.send(Msg::Deliver(slot.clone(), event)).map_err(drop),
        };
    }
}

/// The callback of a [`CallbackSubscription`].
pub(crate) struct CallbackSlot {
    f: Mutex<Box<dyn FnMut(CacheEvent) + Send>>,
    cancelled: AtomicBool,
}

/// Runs a callback on the dispatcher thread; a panic in it is logged and
/// does not stop the watcher.
pub(crate) fn deliver(slot: &Weak<CallbackSlot>, event: CacheEvent) {
    let Some(slot) = slot.upgrade() else { return };
    if slot.cancelled.load(Ordering::Acquire) {
        return;
    }
    let mut f = slot.f.lock().unwrap_or_else(PoisonError::into_inner);
    let kind = event.kind();
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(event))).is_err() {
        log::error!("a token cache watch callback panicked on a {kind} event; it stays subscribed");
    }
}

/// Unsubscribes when dropped; holds the cache so that it outlives its subscribers.
struct Guard {
    target: Arc<dyn Target>,
    id: u64,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.target.unsubscribe(self.id);
    }
}

/// A new channel subscription: the sink for the cache and a function that
/// wraps the registered subscription.
pub(crate) fn new_channel() -> (Sink, impl FnOnce(Arc<dyn Target>, u64) -> Subscription) {
    let (tx, rx) = mpsc::channel();
    (Sink::Channel(tx), move |target, id| Subscription { rx, _guard: Guard { target, id } })
}

/// A new callback subscription, queued through `queue`.
pub(crate) fn new_callback(
    queue: mpsc::Sender<Msg>,
    f: Box<dyn FnMut(CacheEvent) + Send>,
) -> (Sink, impl FnOnce(Arc<dyn Target>, u64) -> CallbackSubscription) {
    let slot = Arc::new(CallbackSlot { f: Mutex::new(f), cancelled: AtomicBool::new(false) });
    let sink = Sink::Callback { queue, slot: Arc::downgrade(&slot) };
    (sink, move |target, id| CallbackSubscription { slot, _guard: Guard { target, id } })
}

/// Events about one [`PersistedTokenCache`](crate::PersistedTokenCache),
/// from [`watch`](crate::PersistedTokenCache::watch): a blocking iterator,
/// with [`recv_timeout`](Self::recv_timeout) and [`try_recv`](Self::try_recv)
/// for bounded waits. Drop it to unsubscribe.
///
/// Events queue up until read; the iterator never ends while the
/// subscription exists (it keeps the cache alive).
#[must_use = "events are only reported while the subscription is kept"]
pub struct Subscription {
    rx: mpsc::Receiver<CacheEvent>,
    _guard: Guard,
}

impl Subscription {
    /// The next event, waiting up to `timeout`; `None` if none came in time.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<CacheEvent> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next event if one is queued, without waiting.
    pub fn try_recv(&self) -> Option<CacheEvent> {
        self.rx.try_recv().ok()
    }

    /// A blocking iterator over the events, borrowing the subscription.
    pub fn iter(&self) -> impl Iterator<Item = CacheEvent> + '_ {
        self.rx.iter()
    }
}

impl Iterator for Subscription {
    type Item = CacheEvent;

    /// Blocks until the next event.
    fn next(&mut self) -> Option<CacheEvent> {
        self.rx.recv().ok()
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").field("id", &self._guard.id).finish_non_exhaustive()
    }
}

/// A callback called with every event about one
/// [`PersistedTokenCache`](crate::PersistedTokenCache), from
/// [`on_change`](crate::PersistedTokenCache::on_change). Drop it to unsubscribe.
///
/// The callback runs on the process's one watcher thread, one event at a
/// time, in order; a slow callback delays the others (hand long work to
/// another thread). It may use the cache, subscribe and unsubscribe. Once
/// the drop returns it is not called again, except for a call already
/// running on the watcher thread.
#[must_use = "the callback is only called while the subscription is kept"]
pub struct CallbackSubscription {
    slot: Arc<CallbackSlot>,
    _guard: Guard,
}

impl Drop for CallbackSubscription {
    fn drop(&mut self) {
        self.slot.cancelled.store(true, Ordering::Release);
    }
}

impl fmt::Debug for CallbackSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackSubscription").field("id", &self._guard.id).finish_non_exhaustive()
    }
}

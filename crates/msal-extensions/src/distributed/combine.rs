//! Group commit: the writes of one process to one document are merged and
//! stored by one compare-and-set at a time.
//!
//! Without it, sixteen threads of a process writing to one document are
//! sixteen contenders, each re-encrypting the whole document on every lost
//! race; with it, they are one contender whose single write carries all
//! their entries. A writer drops its entries in the document's mailbox;
//! whoever finds no write in flight takes everything in the mailbox, merges
//! it and stores it, then hands each writer its outcome. Waiting is a short
//! sleep-poll, so the same code serves the blocking and the async API.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::cache::TokenCache;
use crate::error::Error;

use super::events::WriteOutcome;

/// How a write that was part of a batch ended.
pub(crate) enum Ticketed {
    Done(WriteOutcome),
    /// Redis failed or was too slow: the writer queues its entries.
    Queue,
    /// Not an outage (a copy of the batch's error).
    Failed(Error),
}

/// One writer's entries waiting in a mailbox.
pub(crate) struct Item {
    pub(crate) delta: Arc<TokenCache>,
    pub(crate) companion: Option<i64>,
    pub(crate) deadline: Instant,
    ticket: Arc<Mutex<Option<Ticketed>>>,
}

#[derive(Default)]
struct Mailbox {
    items: Vec<Item>,
    /// A batch of this document is being stored.
    busy: bool,
}

/// The mailboxes of the documents being written, by Redis key.
#[derive(Default)]
pub(crate) struct Combiner {
    boxes: Mutex<HashMap<String, Mailbox>>,
}

/// A writer's claim on its outcome.
pub(crate) struct Ticket(Arc<Mutex<Option<Ticketed>>>);

impl Ticket {
    pub(crate) fn take(&self) -> Option<Ticketed> {
        lock(&self.0).take()
    }
}

/// What a waiting writer should do next.
pub(crate) enum Turn {
    /// Store this batch (it holds the caller's entries or others').
    Lead(Vec<Item>),
    /// Someone else is storing: poll again shortly.
    Wait,
    /// The caller's entries were withdrawn before anyone took them.
    Withdrawn,
}

/// The first pause between polls of a waiting writer, and the longest.
pub(crate) const POLL: Duration = Duration::from_micros(50);
pub(crate) const MAX_POLL: Duration = Duration::from_millis(2);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Combiner {
    /// Drops entries in the mailbox of `key`.
    pub(crate) fn post(
        &self,
        key: &str,
        delta: Arc<TokenCache>,
        companion: Option<i64>,
        deadline: Instant,
    ) -> Ticket {
        let ticket = Arc::new(Mutex::new(None));
        let item = Item { delta, companion, deadline, ticket: ticket.clone() };
        lock(&self.boxes).entry(key.to_owned()).or_default().items.push(item);
        Ticket(ticket)
    }

    /// Takes the batch to store if no write of `key` is in flight. When the
    /// caller's `deadline` passed and its entries are still in the mailbox,
    /// withdraws them instead (the caller queues them).
    pub(crate) fn turn(&self, key: &str, ticket: &Ticket, deadline: Instant) -> Turn {
        let mut boxes = lock(&self.boxes);
        let Some(mb) = boxes.get_mut(key) else { return Turn::Wait };
        if Instant::now() >= deadline
            && let Some(pos) = mb.items.iter().position(|i| Arc::ptr_eq(&i.ticket, &ticket.0))
        {
            mb.items.swap_remove(pos);
            return Turn::Withdrawn;
        }
        if mb.busy || mb.items.is_empty() {
            return Turn::Wait;
        }
        mb.busy = true;
        Turn::Lead(std::mem::take(&mut mb.items))
    }

    /// Ends the batch of `key`, handing each writer `outcome(item)`.
    pub(crate) fn finish(&self, key: &str, batch: Vec<Item>, outcome: impl Fn(&Item) -> Ticketed) {
        for item in &batch {
            *lock(&item.ticket) = Some(outcome(item));
        }
        let mut boxes = lock(&self.boxes);
        if let Some(mb) = boxes.get_mut(key) {
            mb.busy = false;
            if mb.items.is_empty() {
                boxes.remove(key);
            }
        }
    }
}

/// All entries of a batch as one delta, the latest companion expiry, and the
/// earliest deadline (the batch's write must not outlast any of its writers).
pub(crate) fn merged(batch: &[Item]) -> (Arc<TokenCache>, Option<i64>, Instant) {
    let deadline = batch.iter().map(|i| i.deadline).min().unwrap_or_else(Instant::now);
    let companion = batch.iter().filter_map(|i| i.companion).max();
    if let [one] = batch {
        return (one.delta.clone(), companion, deadline);
    }
    let mut all = TokenCache::new();
    for i in batch {
        all.merge_entries(&i.delta);
    }
    (Arc::new(all), companion, deadline)
}

/// A copy of an error a batch's write ended with, for each of its writers
/// (the source, if any, stays with the first).
pub(crate) fn duplicate(e: &Error) -> Error {
    match e {
        Error::ConflictRetriesExhausted { location, attempts } => {
            Error::ConflictRetriesExhausted { location: location.clone(), attempts: *attempts }
        }
        Error::UnknownKey { location, key_id } => {
            Error::UnknownKey { location: location.clone(), key_id: key_id.clone() }
        }
        Error::Decryption { location, message, .. } => {
            Error::Decryption { location: location.clone(), message: message.clone(), source: None }
        }
        Error::Encryption { location, message, .. } => {
            Error::Encryption { location: location.clone(), message: message.clone(), source: None }
        }
        Error::Corrupt { location, reason } => {
            Error::Corrupt { location: location.clone(), reason: reason.clone() }
        }
        other => Error::Corrupt { location: "distributed cache".into(), reason: other.to_string() },
    }
}

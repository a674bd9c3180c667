//! The process-wide watcher: one `notify` watcher and one dispatcher thread
//! shared by every subscription of every cache, started by the first
//! subscription and ended with the last.
//!
//! Threads: `notify`'s backend runs its own event loop (inotify, kqueue,
//! FSEvents or ReadDirectoryChangesW); its handler only drops read-only
//! events and forwards the rest to the dispatcher thread here, which owns
//! the timers (debounce, retries), reloads the caches and runs callbacks. So
//! callbacks may subscribe, unsubscribe and use the cache without ever
//! blocking `notify`'s loop, and a subscribe never waits for a callback.
//!
//! Lock order: a cache's observers → the registry → the `notify` watcher.
//! The dispatcher never holds the registry while it reloads a cache.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

use super::subscription::CallbackSlot;
use super::{CacheEvent, DEBOUNCE};
use crate::error::{Error, Result};

/// A cache that can be watched: implemented by `PersistedTokenCache`.
pub(crate) trait Target: Send + Sync {
    /// Reloads under the cross-process lock if the store changed since the
    /// last look, and hands the differences to the subscribers.
    fn sync(&self) -> Result<()>;
    /// Removes one subscription.
    fn unsubscribe(&self, id: u64);
}

/// The first retry of a failed reload, doubled up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_secs(1);
const MAX_RETRY: Duration = Duration::from_secs(30);

/// What the dispatcher thread is told.
pub(crate) enum Msg {
    /// A file-system event (or a backend error) from `notify`.
    Fs(notify::Result<notify::Event>),
    /// An event for a callback subscription, to be run on this thread.
    Deliver(Weak<CallbackSlot>, CacheEvent),
    /// The hub is gone: exit.
    Stop,
}

/// One registration of a cache: its id and the cache (not kept alive by the hub).
type Registered = (u64, Weak<dyn Target>);

#[derive(Default)]
struct Registry {
    next_id: u64,
    /// Absolute cache location → the caches watching it.
    targets: HashMap<PathBuf, Vec<Registered>>,
    /// Folder of a location → the path actually watched: the folder, or its
    /// nearest existing parent while the folder is missing.
    folders: HashMap<PathBuf, PathBuf>,
    /// Watched path → how many folders rely on it.
    watched: HashMap<PathBuf, usize>,
    /// The location with its folder's symbolic links resolved → the
    /// location, where they differ: some backends (FSEvents) name real paths.
    aliases: HashMap<PathBuf, PathBuf>,
}

impl Registry {
    /// The registered location an event path names, if any.
    fn location_of<'a>(&'a self, path: &'a PathBuf) -> Option<&'a PathBuf> {
        if self.targets.contains_key(path) { Some(path) } else { self.aliases.get(path) }
    }

    fn add_alias(&mut self, location: &Path) {
        let real = std::fs::canonicalize(crate::sys::parent_dir(location)).ok();
        if let (Some(dir), Some(name)) = (real, location.file_name()) {
            let alias = dir.join(name);
            if alias != location {
                self.aliases.insert(alias, location.to_path_buf());
            }
        }
    }
}

pub(crate) struct Hub {
    registry: Mutex<Registry>,
    watcher: Mutex<RecommendedWatcher>,
    tx: mpsc::Sender<Msg>,
}

/// The hub of this process, while anyone subscribes.
static CURRENT: Mutex<Weak<Hub>> = Mutex::new(Weak::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data consistent before any call that could panic.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A cache's place in the hub; dropping it stops watching for that cache
/// (and, with the last registration, ends the threads).
pub(crate) struct Registration {
    hub: Arc<Hub>,
    id: u64,
    location: PathBuf,
}

impl Registration {
    /// Registers `target`, stored at `location`, with the process's hub
    /// (starting it if needed) and watches its folder.
    ///
    /// # Errors
    /// [`Error::Unavailable`] when the platform's file notification cannot be
    /// set up (e.g. the inotify limits are reached); [`Error::Io`] when the
    /// folder cannot be watched.
    pub(crate) fn new(target: Weak<dyn Target>, location: &Path) -> Result<Self> {
        let location =
            std::path::absolute(location).map_err(|e| Error::io("resolve the path of", location, e))?;
        let hub = Hub::current()?;
        let id = hub.add(target, &location)?;
        Ok(Registration { hub, id, location })
    }

    /// Where callback events are queued.
    pub(crate) fn sender(&self) -> mpsc::Sender<Msg> {
        self.hub.tx.clone()
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.remove(self.id, &self.location);
    }
}

impl Hub {
    /// The running hub, or a new one (a `notify` watcher and the dispatcher thread).
    fn current() -> Result<Arc<Hub>> {
        let mut current = lock(&CURRENT);
        if let Some(hub) = current.upgrade() {
            return Ok(hub);
        }
        let (tx, rx) = mpsc::channel();
        let forward = tx.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if is_relevant(&event) {
                let _ = forward.send(Msg::Fs(event));
            }
        })
        .map_err(|e| unavailable("could not start watching files", e))?;
        let hub = Arc::new(Hub { registry: Mutex::default(), watcher: Mutex::new(watcher), tx });
        let weak = Arc::downgrade(&hub);
        std::thread::Builder::new()
            .name("msal-cache-watch".into())
            .spawn(move || dispatch(&rx, &weak))
            .map_err(|e| unavailable("could not start the watcher thread", e))?;
        *current = Arc::downgrade(&hub);
        Ok(hub)
    }

    fn add(&self, target: Weak<dyn Target>, location: &Path) -> Result<u64> {
        let mut reg = lock(&self.registry);
        let folder = crate::sys::parent_dir(location);
        if !reg.folders.contains_key(&folder) {
            let watched = self.watch_nearest(&mut reg, &folder)?;
            reg.folders.insert(folder, watched);
        }
        reg.add_alias(location);
        reg.next_id += 1;
        let id = reg.next_id;
        reg.targets.entry(location.to_path_buf()).or_default().push((id, target));
        Ok(id)
    }

    fn remove(&self, id: u64, location: &Path) {
        let mut reg = lock(&self.registry);
        let Some(list) = reg.targets.get_mut(location) else { return };
        list.retain(|(i, _)| *i != id);
        if !list.is_empty() {
            return;
        }
        reg.targets.remove(location);
        reg.aliases.retain(|_, l| l != location);
        let folder = crate::sys::parent_dir(location);
        if reg.targets.keys().any(|l| crate::sys::parent_dir(l) == folder) {
            return;
        }
        if let Some(watched) = reg.folders.remove(&folder) {
            self.unwatch_path(&mut reg, &watched);
        }
    }

    fn watch_path(&self, reg: &mut Registry, path: &Path) -> Result<()> {
        let count = reg.watched.entry(path.to_path_buf()).or_insert(0);
        if *count == 0
            && let Err(e) = lock(&self.watcher).watch(path, RecursiveMode::NonRecursive)
        {
            reg.watched.remove(path);
            return Err(watch_error(path, e));
        }
        *count += 1;
        Ok(())
    }

    fn unwatch_path(&self, reg: &mut Registry, path: &Path) {
        let Some(count) = reg.watched.get_mut(path) else { return };
        *count -= 1;
        if *count == 0 {
            reg.watched.remove(path);
            // Fails only when the folder is already gone, and its watch with it.
            let _ = lock(&self.watcher).unwatch(path);
        }
    }

    /// Marks the caches an event concerns as due for a reload, and follows
    /// folders that were deleted, moved or recreated.
    fn route(&self, event: notify::Result<notify::Event>, due: &mut HashMap<PathBuf, Instant>) {
        let reg = lock(&self.registry);
        let event = match event {
            Ok(e) if !e.need_rescan() => e,
            other => {
                // Events were lost (queue overflow) or the backend failed:
                // look at everything again rather than miss a change.
                if let Err(e) = other {
                    log::warn!("file watching reported an error ({e}); re-checking every watched cache");
                }
                let all: Vec<PathBuf> = reg.folders.values().cloned().collect();
                drop(reg);
                self.follow_folders(&all.into_iter().collect(), due);
                mark_all(&lock(&self.registry), due);
                return;
            }
        };
        for path in &event.paths {
            if let Some(location) = reg.location_of(path) {
                due.entry(location.clone()).or_insert_with(|| Instant::now() + DEBOUNCE);
            }
        }
        let gone = matches!(
            event.kind,
            EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_))
        );
        let dead: HashSet<PathBuf> =
            event.paths.iter().filter(|p| gone && reg.watched.contains_key(*p)).cloned().collect();
        // A step towards a missing folder appeared (or vanished) under the parent we fall back to.
        let on_the_way = event
            .paths
            .iter()
            .any(|p| reg.folders.iter().any(|(folder, w)| folder != w && folder.starts_with(p)));
        drop(reg);
        if !dead.is_empty() || on_the_way {
            self.follow_folders(&dead, due);
        }
    }

    /// Re-aims each folder's watch at the folder itself, or at its nearest
    /// existing parent while it is missing. `dead` are watched paths whose
    /// watch the system dropped (deleted or moved away).
    fn follow_folders(&self, dead: &HashSet<PathBuf>, due: &mut HashMap<PathBuf, Instant>) {
        let mut reg = lock(&self.registry);
        for path in dead {
            if reg.watched.remove(path).is_some() {
                let _ = lock(&self.watcher).unwatch(path);
            }
        }
        let folders: Vec<(PathBuf, PathBuf)> =
            reg.folders.iter().map(|(f, w)| (f.clone(), w.clone())).collect();
        for (folder, old) in folders {
            let best = nearest_existing(&folder);
            if best == old && !dead.contains(&old) {
                continue;
            }
            if !dead.contains(&old) {
                self.unwatch_path(&mut reg, &old);
            }
            let now_watched = self.watch_nearest(&mut reg, &folder).unwrap_or_else(|e| {
                log::warn!("{e}; changes to the caches in {} are not seen for now", folder.display());
                PathBuf::new() // watches nothing; unwatch_path ignores it
            });
            log::debug!("watching {} for {}", now_watched.display(), folder.display());
            reg.folders.insert(folder.clone(), now_watched);
            // The folder went away or came back: its caches may have changed with it.
            let locations: Vec<PathBuf> =
                reg.targets.keys().filter(|l| crate::sys::parent_dir(l) == folder).cloned().collect();
            for loc in locations {
                reg.add_alias(&loc);
                due.entry(loc).or_insert_with(|| Instant::now() + DEBOUNCE);
            }
        }
    }

    /// Watches `folder`, or its nearest existing parent while it is missing,
    /// looking again when the candidate vanishes under us.
    fn watch_nearest(&self, reg: &mut Registry, folder: &Path) -> Result<PathBuf> {
        let mut tries = 0;
        loop {
            let candidate = nearest_existing(folder);
            match self.watch_path(reg, &candidate) {
                Ok(()) => return Ok(candidate),
                Err(_) if tries < 8 && !candidate.is_dir() => tries += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// The live caches stored at `location`.
    fn targets_at(&self, location: &Path) -> Vec<Arc<dyn Target>> {
        let reg = lock(&self.registry);
        reg.targets
            .get(location)
            .map(|v| v.iter().filter_map(|(_, t)| t.upgrade()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Stop);
    }
}

fn mark_all(reg: &Registry, due: &mut HashMap<PathBuf, Instant>) {
    for loc in reg.targets.keys() {
        due.entry(loc.clone()).or_insert_with(|| Instant::now() + DEBOUNCE);
    }
}

/// Events worth waking the dispatcher for: not reads (every program that
/// reads the cache opens it), not the lock's files coming and going (the
/// lockfile, and its guard, which every acquire opens and closes, including
/// the watcher's own reloads).
fn is_relevant(event: &notify::Result<notify::Event>) -> bool {
    let Ok(e) = event else { return true };
    if e.need_rescan() {
        return true;
    }
    let read_only = matches!(e.kind, EventKind::Access(k) if k != AccessKind::Close(AccessMode::Write));
    let lock_only = !e.paths.is_empty() && e.paths.iter().all(|p| is_lock_file(p));
    !read_only && !lock_only
}

/// `<cache>.lockfile` or its guard `<cache>.lockfile.guard`, as the lock
/// module names them ([`default_lock_path`](crate::lock::default_lock_path),
/// [`guard_path`](crate::lock::guard_path)).
fn is_lock_file(path: &Path) -> bool {
    let is_lockfile = |p: &Path| crate::lock::default_lock_path(&p.with_extension("")) == p;
    let guarded = path.with_extension("");
    is_lockfile(path) || (is_lockfile(&guarded) && crate::lock::guard_path(&guarded) == path)
}

/// `path` if it is a folder, else its nearest parent that is.
fn nearest_existing(path: &Path) -> PathBuf {
    let mut p = path;
    loop {
        if p.is_dir() {
            return p.to_path_buf();
        }
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => return p.to_path_buf(),
        }
    }
}

/// The dispatcher thread: blocks until an event or a deadline (so it never
/// wakes while nothing happens), reloads due caches, runs callbacks.
fn dispatch(rx: &mpsc::Receiver<Msg>, hub: &Weak<Hub>) {
    let mut due: HashMap<PathBuf, Instant> = HashMap::new();
    let mut backoff: HashMap<PathBuf, Duration> = HashMap::new();
    loop {
        let msg = match due.values().min() {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(t) => rx.recv_timeout(t.saturating_duration_since(Instant::now())),
        };
        match msg {
            Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Ok(Msg::Deliver(slot, event)) => super::subscription::deliver(&slot, event),
            Ok(Msg::Fs(event)) => match hub.upgrade() {
                Some(h) => h.route(event, &mut due),
                None => return,
            },
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        let ready: Vec<PathBuf> = due.iter().filter(|(_, t)| **t <= now).map(|(l, _)| l.clone()).collect();
        if ready.is_empty() {
            continue;
        }
        let Some(h) = hub.upgrade() else { return };
        for location in ready {
            due.remove(&location);
            let failed = h.targets_at(&location).iter().find_map(|t| t.sync().err());
            match failed {
                None => {
                    backoff.remove(&location);
                }
                Some(e) => {
                    let wait = backoff.get(&location).map_or(FIRST_RETRY, |w| (*w * 2).min(MAX_RETRY));
                    log::warn!(
                        "could not reload the token cache at {} to report changes ({e}); retrying in {} s",
                        location.display(),
                        wait.as_secs()
                    );
                    backoff.insert(location.clone(), wait);
                    due.insert(location, Instant::now() + wait);
                }
            }
        }
    }
}

fn unavailable(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Unavailable {
        backend: "watch",
        message: format!(
            "{what}; on Linux check the inotify limits (sysctl fs.inotify.max_user_instances, max_user_watches)"
        ),
        source: Some(Box::new(e)),
    }
}

fn watch_error(path: &Path, e: notify::Error) -> Error {
    match e.kind {
        notify::ErrorKind::MaxFilesWatch => unavailable(
            &format!("the limit of watched folders is reached while watching {}", path.display()),
            e,
        ),
        notify::ErrorKind::Io(io) => Error::io("watch the folder", path, io),
        _ => Error::io("watch the folder", path, std::io::Error::other(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, ModifyKind, RemoveKind};

    fn event(kind: EventKind, paths: &[&str]) -> notify::Result<notify::Event> {
        let mut e = notify::Event::new(kind);
        e.paths = paths.iter().map(PathBuf::from).collect();
        Ok(e)
    }

    #[test]
    fn the_lock_files_coming_and_going_wake_nobody() {
        let lockfile = crate::lock::default_lock_path(Path::new("/d/c.json"));
        let guard = crate::lock::guard_path(&lockfile);
        let (lockfile, guard) = (lockfile.to_str().unwrap(), guard.to_str().unwrap());
        let opened = EventKind::Access(AccessKind::Open(AccessMode::Any));
        let closed = EventKind::Access(AccessKind::Close(AccessMode::Write));
        for kind in [EventKind::Create(CreateKind::File), closed, EventKind::Remove(RemoveKind::File)] {
            assert!(!is_relevant(&event(kind, &[lockfile])), "{kind:?} {lockfile}");
            assert!(!is_relevant(&event(kind, &[guard])), "{kind:?} {guard}");
            assert!(!is_relevant(&event(kind, &[lockfile, guard])), "{kind:?} both");
            assert!(is_relevant(&event(kind, &[lockfile, "/d/c.json"])), "{kind:?} with the cache");
        }
        assert!(!is_relevant(&event(opened, &["/d/c.json"])), "a read");
        assert!(is_relevant(&event(closed, &["/d/c.json"])), "a write");
        let renamed = EventKind::Modify(ModifyKind::Name(notify::event::RenameMode::To));
        assert!(is_relevant(&event(renamed, &["/d/c.json"])), "a save's rename");
        // Only the lock's own names: look-alikes are the cache's business.
        for other in ["/d/c.json.guard", "/d/c.guard", "/d/lockfile", "/d/c.json.lockfile.guard.tmp"] {
            assert!(is_relevant(&event(closed, &[other])), "{other}");
        }
    }
}

//! [`FilePersistence`]: the cache as a plaintext file, replaced atomically.

use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, IoResultExt, Result};
use crate::persistence::{ChangeToken, Persistence};
use crate::sys;

/// How hard a save works to make the new content survive a crash.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Survive SIGKILL *and* power loss: the temporary file and the folder
    /// are flushed to disk (`fsync`) around the rename. After a power cut the
    /// file holds the old or the new content in full. This is the default;
    /// on an ordinary SSD it costs a few milliseconds per save (7 ms for a
    /// 4 KiB cache on the reference machine versus 0.08 ms without), nothing
    /// on tmpfs.
    #[default]
    PowerLoss,
    /// Survive a crash of the process (SIGKILL, panic, abort), not of the
    /// machine: no `fsync`. After a power cut the file may hold the old
    /// content, the new content, or (on some file systems) be empty.
    ProcessCrash,
}

/// The token cache as a plaintext file, like the Python reference's
/// `FilePersistence`, but never left half-written.
///
/// - `~` at the start of the path is expanded to the home folder.
/// - Missing parent folders are created, `0700` (owner only) on Unix.
/// - A new file is `0600` (owner only) whatever the umask; a save over an
///   existing file keeps its owner, group and mode (so root saving a user's
///   cache leaves it the user's).
/// - [`save`](Persistence::save) writes a temporary file in the same folder,
///   flushes it and renames it over the cache, so readers and crashes see
///   the old or the new content, never a mix (see [`Durability`]).
///
/// # Security
/// The content is **not encrypted**; anyone who can read the file as its
/// owner (or as root) can read the tokens. Prefer an encrypted backend
/// where the platform has a secret store.
///
/// # Examples
/// ```
/// use msal_extensions::{FilePersistence, Persistence};
/// # let dir = std::env::temp_dir().join(format!("msalx-doc-{}", std::process::id()));
/// let p = FilePersistence::new(dir.join("cache.json"))?;
/// assert!(p.load().unwrap_err().is_not_found());
/// p.save(r#"{"AccessToken": {}}"#)?;
/// assert_eq!(p.load()?, r#"{"AccessToken": {}}"#);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), msal_extensions::Error>(())
/// ```
#[derive(Clone)]
pub struct FilePersistence {
    path: PathBuf,
    durability: Durability,
    /// Whether this instance has swept its folder for temporary files left by killed writers.
    swept: Arc<AtomicBool>,
}

impl FilePersistence {
    /// A persistence at `path` (`~` expanded) with [`Durability::PowerLoss`].
    ///
    /// Nothing is created until the first save or [`touch`](Self::touch).
    ///
    /// # Errors
    /// [`Error::Unavailable`] if the path starts with `~` and no home folder is known.
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        Ok(FilePersistence {
            path: expand_tilde(path.as_ref())?,
            durability: Durability::default(),
            swept: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Sets how hard saves work to survive crashes.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// The durability of saves.
    pub fn durability(&self) -> Durability {
        self.durability
    }

    /// Creates the file (empty, `0600`) if it does not exist, and sets its
    /// modification time to now. Keychain and Secret Service backends touch
    /// their signal file this way on every save so readers notice.
    pub fn touch(&self) -> Result<()> {
        let created =
            self.in_folder(|| sys::create_new_private(&self.path), |e| e.kind() == io::ErrorKind::NotFound)?;
        let file = match created {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                sys::open_append_regular(&self.path).with_path("open", &self.path)?
            }
            Err(e) => return Err(Error::io("create", &self.path, e)),
        };
        file.set_modified(std::time::SystemTime::now()).with_path("set the modification time of", &self.path)
    }

    /// Once per instance, after a successful save: remove temporary files that
    /// writers killed mid-save left in the folder (their pid is dead).
    fn sweep_once(&self) {
        if self.swept.swap(true, Ordering::Relaxed) {
            return;
        }
        let removed = sys::remove_orphan_temps(&sys::parent_dir(&self.path), &sys::file_stem(&self.path));
        if removed > 0 {
            log::info!(
                "removed {removed} temporary file(s) left by killed writers beside {}",
                self.path.display()
            );
        }
    }

    /// Runs `op`; when it fails because the folder is missing (first save,
    /// or the folder was deleted meanwhile), creates the folder and runs it
    /// once more. So an ordinary save pays no extra `stat` for the folder.
    fn in_folder<T, E>(
        &self,
        op: impl Fn() -> std::result::Result<T, E>,
        folder_missing: impl Fn(&E) -> bool,
    ) -> Result<std::result::Result<T, E>> {
        match op() {
            Err(e) if folder_missing(&e) => {
                self.ensure_parent()?;
                Ok(op())
            }
            done => Ok(done),
        }
    }

    fn ensure_parent(&self) -> Result<()> {
        match self.path.parent() {
            Some(dir) => sys::create_private_dir_all(dir).with_path("create the folder", dir),
            None => Ok(()),
        }
    }
}

impl Persistence for FilePersistence {
    fn save_bytes(&self, content: &[u8]) -> Result<()> {
        let durable = self.durability == Durability::PowerLoss;
        self.in_folder(
            || sys::write_atomic(&self.path, content, durable),
            |(_, _, e)| e.kind() == io::ErrorKind::NotFound,
        )?
        .map_err(|(op, path, e)| Error::io(op, path, e))?;
        self.sweep_once();
        Ok(())
    }

    /// Reads the file. Never blocks on a FIFO planted at the path: anything
    /// but a regular file is an [`Error::Io`] saying what is there.
    fn load_bytes(&self) -> Result<Vec<u8>> {
        let read = sys::open_regular(&self.path).and_then(|mut f| {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map(|_| bytes)
        });
        match read {
            Ok(bytes) => Ok(bytes),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::not_found(&self.path)),
            Err(e) => Err(Error::io("read", &self.path, e)),
        }
    }

    /// Deletes the file; `Ok` if it did not exist.
    fn delete(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io("delete", &self.path, e)),
            _ => Ok(()),
        }
    }

    fn change_token(&self) -> Result<ChangeToken> {
        ChangeToken::of_path(&self.path)
    }

    fn location(&self) -> &Path {
        &self.path
    }

    fn is_encrypted(&self) -> bool {
        false
    }

    fn backend_name(&self) -> &'static str {
        "file"
    }
}

impl fmt::Debug for FilePersistence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilePersistence")
            .field("path", &self.path)
            .field("durability", &self.durability)
            .finish()
    }
}

/// Expands a leading `~` (alone or followed by a separator) to the home folder.
pub(crate) fn expand_tilde(path: &Path) -> Result<PathBuf> {
    let Ok(rest) = path.strip_prefix("~") else {
        return Ok(path.to_path_buf());
    };
    let home = home_dir().ok_or_else(|| Error::Unavailable {
        backend: "file",
        message: format!(
            "cannot expand `~` in {}: no home folder is known (set HOME, or give an absolute path)",
            path.display()
        ),
        source: None,
    })?;
    Ok(if rest.as_os_str().is_empty() { home } else { home.join(rest) })
}

fn home_dir() -> Option<PathBuf> {
    let var = if cfg!(windows) { "USERPROFILE" } else { "HOME" };
    std::env::var_os(var).filter(|h| !h.is_empty()).map(PathBuf::from)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("msalx-file-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn creates_private_folders_and_file() {
        let d = scratch("modes");
        let p = FilePersistence::new(d.join("a/b/cache.bin")).unwrap();
        p.save("x").unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d.join("a/b/cache.bin")), 0o600);
        assert_eq!(mode(&d.join("a/b")), 0o700);
        assert_eq!(mode(&d.join("a")), 0o700);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn save_replaces_and_leaves_no_temp_files() {
        let d = scratch("replace");
        let p = FilePersistence::new(d.join("c.json")).unwrap();
        for i in 0..20 {
            p.save(&format!("content {i}")).unwrap();
        }
        assert_eq!(p.load().unwrap(), "content 19");
        let names: Vec<_> = fs::read_dir(&d).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("c.json")]);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn change_token_changes_on_every_save() {
        let d = scratch("token");
        let p = FilePersistence::new(d.join("c.json")).unwrap().with_durability(Durability::ProcessCrash);
        assert!(p.change_token().unwrap().is_absent());
        p.save("same").unwrap();
        let t1 = p.change_token().unwrap();
        assert_eq!(t1, p.change_token().unwrap());
        p.save("same").unwrap();
        assert_ne!(t1, p.change_token().unwrap(), "a rewrite with identical content must still be seen");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn first_save_sweeps_temp_files_of_dead_writers_only() {
        let d = scratch("sweep");
        fs::create_dir_all(&d).unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let orphan = d.join(format!(".c.json.{dead}.3.tmp"));
        let live = d.join(format!(".c.json.{}.9.tmp", std::process::id()));
        let other = d.join(format!(".other.{dead}.1.tmp"));
        for f in [&orphan, &live, &other] {
            fs::write(f, "x").unwrap();
        }
        FilePersistence::new(d.join("c.json")).unwrap().save("{}").unwrap();
        assert!(!orphan.exists(), "a dead writer's temp file is removed");
        assert!(live.exists() && other.exists(), "a live writer's and another cache's temp files stay");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn tilde_is_expanded() {
        let p = FilePersistence::new("~/x/cache.bin").unwrap();
        assert!(!p.location().starts_with("~"));
        assert!(p.location().ends_with("x/cache.bin"));
    }

    #[test]
    fn touch_creates_and_updates() {
        let d = scratch("touch");
        let p = FilePersistence::new(d.join("signal")).unwrap();
        p.touch().unwrap();
        assert_eq!(fs::metadata(d.join("signal")).unwrap().len(), 0);
        let t1 = p.change_token().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        p.touch().unwrap();
        assert_ne!(t1, p.change_token().unwrap());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn invalid_utf8_is_corrupt_not_panic() {
        let d = scratch("utf8");
        let p = FilePersistence::new(d.join("c")).unwrap();
        p.save_bytes(&[0xff, 0xfe, b'{']).unwrap();
        assert!(matches!(p.load(), Err(Error::Corrupt { .. })));
        fs::remove_dir_all(&d).unwrap();
    }
}

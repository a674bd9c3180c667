//! `msal-cache migrate`: moves a cache between its plaintext file and this
//! location's encrypted store (a Secret Service or Keychain item whose signal
//! file is that path), in one lock round, through
//! [`PersistedTokenCache`](msal_extensions::PersistedTokenCache).
//!
//! Nothing is lost: a destination that already holds tokens is refused
//! unless `--merge` (union; the newer of two versions of an entry wins) or
//! `--force`; whatever the destination held and whatever the source held is
//! kept as a recoverable copy in its own store's form (a sibling item for an
//! encrypted store, a `0600` file for a plaintext one) and its place printed;
//! the copy is read back and compared before the source is retired. An empty
//! source is "nothing to migrate", so running the command twice cannot
//! replace the moved cache by an empty one.

use std::io::Write;

use clap::{Args, ValueEnum};
use msal_extensions::{CopyReason, Error, LocationRole, Persistence, StoreKind, StoreSpec, TokenCache};

use crate::output::{clean, shell_quote};
use crate::source::{self, Source, SourceArgs, say_copy};
use crate::{BoxResult, Outcome};

/// Where `migrate` moves the cache to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// This location's encrypted store: the preset's, else the platform's (the Secret Service on
    /// Linux, the Keychain on macOS), named by the Secret Service options.
    Encrypted,
    /// A plaintext file (`0600`) at the cache path.
    Plaintext,
}

/// Options of `migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// The store to move the cache to (the other one is the source, unless --backend names it).
    #[arg(long, value_enum)]
    pub to: Target,
    /// When the destination already holds tokens: keep both, entry by entry; where both hold an
    /// entry, the newer one wins (by `cached_at`, or `last_modification_time` for refresh tokens).
    #[arg(long, conflicts_with = "force")]
    pub merge: bool,
    /// When the destination already holds tokens (or is corrupt): replace them. A recoverable
    /// copy of what it held is kept and its place printed.
    #[arg(long)]
    pub force: bool,
}

/// `msal-cache migrate`.
pub fn migrate(args: &MigrateArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    refuse_plaintext_owner(&src, args.to)?;
    let (from_spec, to_spec) = stores(&src, args)?;
    let unchanged = |e: &Error| format!("{}; nothing was changed", crate::error_chain(e));
    let to_p = if to_spec.is_encrypted() { to_spec.open_verified() } else { to_spec.open() }
        .map_err(|e| unchanged(&e))?;
    let from_p = from_spec.open().map_err(|e| unchanged(&e))?;
    // The destination's previous content is copied below only when it held tokens (not an empty signal file).
    let (from, to) = (src.cache_of(from_p), src.cache_of(to_p).keep_replaced(false));
    let (from_name, to_name) = (clean(&from.persistence().describe()), clean(&to.persistence().describe()));
    // Both stores share the location, hence the lockfile: one lock round for the whole move.
    let lock = from.lock()?;
    let (held_from, held_to) = (from.holding(&lock)?, to.holding(&lock)?);
    let moving = held_from.snapshot().map_err(|e| src.explain(e))?;
    if moving.is_empty() {
        return Err(format!("nothing to migrate: {from_name} holds no tokens; nothing was changed").into());
    }
    let existing = match held_to.snapshot() {
        Ok(c) => c,
        Err(Error::Corrupt { .. }) if args.force => TokenCache::new(),
        Err(e) => return Err(src.explain(e)),
    };
    let held = !existing.is_empty();
    let (target, merged) = plan(&moving, existing, args, &to_name)?;
    let kept = if held { to.persistence().keep_copy(CopyReason::Replaced)? } else { None };
    let replaced = held_to.replace(target.clone())?;
    verify_copy(to.persistence(), &target)
        .map_err(|e| format!("{e}; the source {from_name} is untouched"))?;
    let retired = match from_spec.location_role() {
        LocationRole::SignalFile => held_from.remove()?,
        // The file stays as the encrypted item's signal file, holding an empty cache.
        _ => held_from.replace(TokenCache::new())?,
    };
    lock.release()?;
    writeln!(out, "moved {} entries from {from_name} to {to_name}; read back and verified", moving.len())?;
    if let Some(n) = merged {
        writeln!(
            out,
            "merged with the {n} entries the destination held (the newer version of an entry won)"
        )?;
    }
    say_copy(out, kept.as_ref().or(replaced.copy.as_ref()), "the destination's previous content")?;
    say_copy(out, retired.copy.as_ref(), "the source's content")?;
    if let Some(msal_extensions::CopyPlace::File(p)) = retired.copy.as_ref().map(|c| &c.place)
        && !from_spec.is_encrypted()
    {
        writeln!(
            out,
            "it is plaintext: delete it with `rm {}` once you have checked",
            shell_quote(p.as_os_str())
        )?;
    }
    Ok(Outcome::Ok)
}

/// Azure CLI (Linux, macOS) reads only its plaintext file: moving it away signs the user out.
fn refuse_plaintext_owner(src: &Source, to: Target) -> BoxResult<()> {
    let (Target::Encrypted, Some(owner)) = (to, src.plaintext_owner()) else { return Ok(()) };
    let tool = source::tool_name(owner);
    Err(format!(
        "refusing to move {} out of its plaintext file: {tool} keeps its tokens there on this platform and \
         reads no encrypted store, so it would sign you out; nothing was changed (keep the file private \
         instead: `chmod 600 {}`)",
        crate::output::shown(src.location()),
        shell_quote(src.location().as_os_str())
    )
    .into())
}

/// The source and destination stores, at the same location.
fn stores(src: &Source, args: &MigrateArgs) -> BoxResult<(StoreSpec, StoreSpec)> {
    let plaintext = src.spec.clone().with_kind(StoreKind::File);
    let encrypted = src.encrypted.clone();
    if encrypted.location_role() != LocationRole::SignalFile {
        // DPAPI keeps its content in the file itself: both would be the same file.
        return Err(format!(
            "here the encrypted store ({}) is the file {} itself, so there is nothing to move it between; \
             nothing was changed",
            encrypted.backend_name(),
            crate::output::shown(src.location())
        )
        .into());
    }
    let (from, to) = match args.to {
        Target::Encrypted => (plaintext, encrypted),
        Target::Plaintext => (encrypted, plaintext),
    };
    let from = if args.source.backend.is_some() { src.spec.clone() } else { from };
    if from == to {
        return Err("the cache is already in that store; give --backend to name the source".into());
    }
    Ok((from, to))
}

/// What the destination will hold, and how many entries it held when merged.
fn plan(
    moving: &TokenCache,
    existing: TokenCache,
    args: &MigrateArgs,
    to_name: &str,
) -> BoxResult<(TokenCache, Option<usize>)> {
    if existing.is_empty() || args.force {
        return Ok((moving.clone(), None));
    }
    if args.merge {
        let held = existing.len();
        let mut union = existing;
        union.merge(moving);
        return Ok((union, Some(held)));
    }
    Err(format!(
        "{to_name} already holds {} entries; nothing was changed. Give --merge to keep both (where both hold \
         an entry, the newer one wins) or --force to replace them (a recoverable copy is kept)",
        existing.len()
    )
    .into())
}

/// Reads the destination back from the store and compares it with what was meant.
fn verify_copy(to: &dyn Persistence, meant: &TokenCache) -> BoxResult<()> {
    let back = TokenCache::parse_bytes(&to.load_bytes()?)?;
    if back.serialize() != meant.serialize() {
        return Err("the copy read back differs from what was written".into());
    }
    Ok(())
}

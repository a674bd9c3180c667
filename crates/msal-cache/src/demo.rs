//! `msal-cache demo`: the project's main job, shown with real processes.
//!
//! Spawns `--processes` copies of this program. Each does `--updates`
//! read-modify-write cycles of one shared file under [`CrossPlatLock`],
//! appending one line per cycle. Afterwards every line must be there exactly
//! once: with the Python reference, 52-74% of updates are lost at 32 processes.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Instant;

use clap::Args;
use msal_extensions::{CrossPlatLock, FilePersistence, Persistence};

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

/// Options of `msal-cache demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many processes share the file.
    #[arg(long, default_value_t = 16)]
    processes: usize,
    /// How many updates each process makes.
    #[arg(long, default_value_t = 50)]
    updates: usize,
    /// Folder for the shared file (default: a new folder under the temp dir, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
}

/// Options of the hidden worker subcommand.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    file: PathBuf,
    #[arg(long)]
    updates: usize,
    #[arg(long)]
    tag: String,
}

/// Runs the demo and reports to `out`.
pub fn run(args: &DemoArgs, out: &mut impl Write) -> BoxResult<ExitCode> {
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("msal-cache-demo-{}", std::process::id())), true),
    };
    let file = dir.join("shared_cache.txt");
    let _ = fs::remove_file(&file);
    writeln!(
        out,
        "{} processes x {} locked read-modify-write updates of {}",
        args.processes,
        args.updates,
        file.display()
    )?;
    let started = Instant::now();
    let children = spawn_workers(&file, args)?;
    let failed = wait_all(children)?;
    let elapsed = started.elapsed();
    let report = check(&file, args)?;
    writeln!(out, "{report}")?;
    writeln!(
        out,
        "took {:.2} s ({:.0} updates/s)",
        elapsed.as_secs_f64(),
        report.found as f64 / elapsed.as_secs_f64()
    )?;
    if temporary {
        let _ = fs::remove_dir_all(&dir);
    }
    Ok(if report.ok() && failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn spawn_workers(file: &Path, args: &DemoArgs) -> BoxResult<Vec<Child>> {
    let exe = std::env::current_exe()?;
    (0..args.processes)
        .map(|i| {
            Command::new(&exe)
                .arg("demo-worker")
                .arg(file)
                .args(["--updates", &args.updates.to_string(), "--tag", &format!("p{i}")])
                .stdin(Stdio::null())
                .spawn()
                .map_err(Into::into)
        })
        .collect()
}

fn wait_all(children: Vec<Child>) -> io::Result<usize> {
    let mut failed = 0;
    for mut c in children {
        failed += usize::from(!c.wait()?.success());
    }
    Ok(failed)
}

/// What the shared file holds after the run.
struct Report {
    expected: usize,
    found: usize,
    duplicates: usize,
}

impl Report {
    fn ok(&self) -> bool {
        self.found == self.expected && self.duplicates == 0
    }
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lost = self.expected.saturating_sub(self.found);
        let verdict = if self.ok() { "OK: nothing lost" } else { "FAILED" };
        write!(
            f,
            "{verdict}: {} of {} updates present, {lost} lost, {} duplicated",
            self.found, self.expected, self.duplicates
        )
    }
}

fn check(file: &Path, args: &DemoArgs) -> BoxResult<Report> {
    let text = FilePersistence::new(file)?.load()?;
    let lines: Vec<&str> = text.lines().collect();
    let distinct: HashSet<&str> = lines.iter().copied().collect();
    let expected: HashSet<String> =
        (0..args.processes).flat_map(|p| (0..args.updates).map(move |u| format!("p{p} {u}"))).collect();
    let found = expected.iter().filter(|l| distinct.contains(l.as_str())).count();
    Ok(Report { expected: expected.len(), found, duplicates: lines.len() - distinct.len() })
}

/// One worker: `updates` locked read-modify-write cycles appending `"<tag> <i>"`.
pub fn worker(args: &WorkerArgs) -> BoxResult<ExitCode> {
    let cache = FilePersistence::new(&args.file)?;
    for i in 0..args.updates {
        let _lock = CrossPlatLock::acquire(cache.lock_path())?;
        let old = match cache.load() {
            Ok(text) => text,
            Err(e) if e.is_not_found() => String::new(),
            Err(e) => return Err(e.into()),
        };
        cache.save(&format!("{old}{} {i}\n", args.tag))?;
    }
    Ok(ExitCode::SUCCESS)
}

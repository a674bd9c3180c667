//! `msal-cache doctor`: everything that commonly goes wrong with a token
//! cache, each finding with the fix; `--fix` applies the fixes that need no
//! decision and says what it did. Exit 1 when any finding is (still) a problem.

mod checks;
mod fix;

use std::io::Write;

use clap::Args;
use serde_json::{Value, json};

use crate::output::shown;
use crate::source::{Source, SourceArgs};
use crate::{BoxResult, Outcome};
pub use checks::examine;
use fix::Action;

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Print JSON (for scripts) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Skip the Secret Service check (it stores, reads and deletes a probe item).
    #[arg(long)]
    pub no_secret_store: bool,
    /// Apply the fixes that need no decision (file modes, a stale or bogus lockfile, a corrupt
    /// cache: a copy of it is kept, then it holds the complete cache at its start if there is one,
    /// else nothing), say what was done, and check again.
    #[arg(long)]
    pub fix: bool,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Fine.
    Ok,
    /// Worth knowing; not a failure.
    Warn,
    /// Something is broken or unsafe: exit 1.
    Problem,
}

impl Level {
    fn tag(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Problem => "problem",
        }
    }
}

/// One finding: what was checked, what was found, the fix to advise, and
/// the action `--fix` takes for it, when it can.
#[derive(Debug, Clone)]
pub struct Finding {
    pub level: Level,
    pub topic: &'static str,
    pub message: String,
    pub fix: Option<String>,
    pub action: Option<Action>,
}

fn finding(level: Level, topic: &'static str, message: String, fix: Option<String>) -> Finding {
    Finding { level, topic, message, fix, action: None }
}

/// What `--fix` did for one finding.
struct Applied {
    topic: &'static str,
    result: Result<String, String>,
}

/// `msal-cache doctor`.
pub fn run(args: &DoctorArgs, out: &mut impl Write) -> BoxResult<Outcome> {
    let src = args.source.resolve()?;
    let mut findings = examine(&src, !args.no_secret_store);
    let mut applied = Vec::new();
    if args.fix {
        applied = apply_fixes(&src, &findings);
        if !applied.is_empty() {
            if !args.json {
                write_text(out, &src, &findings)?;
                write_applied(out, &applied)?;
                writeln!(out, "after the fixes:")?;
            }
            findings = examine(&src, !args.no_secret_store);
        }
    }
    if args.json {
        write_json(out, &src, &findings, args.fix.then_some(&applied[..]))?;
    } else {
        write_text(out, &src, &findings)?;
    }
    let bad = findings.iter().any(|f| f.level == Level::Problem);
    Ok(if bad { Outcome::Problem } else { Outcome::Ok })
}

/// Applies the action of every finding that is not ok, in order.
fn apply_fixes(src: &Source, findings: &[Finding]) -> Vec<Applied> {
    findings
        .iter()
        .filter(|f| f.level != Level::Ok)
        .filter_map(|f| Some((f.topic, f.action.as_ref()?)))
        .map(|(topic, action)| Applied {
            topic,
            result: action.apply(src).map_err(|e| crate::error_chain(e.as_ref())),
        })
        .collect()
}

fn write_applied<W: Write>(out: &mut W, applied: &[Applied]) -> BoxResult<()> {
    writeln!(out, "fixing:")?;
    for a in applied {
        match &a.result {
            Ok(done) => writeln!(out, "  fixed {}: {done}", a.topic)?,
            Err(e) => writeln!(out, "  not fixed {}: {}", a.topic, crate::output::clean(e))?,
        }
    }
    Ok(())
}

/// Findings as text, one per line, fixes indented.
pub fn write_text<W: Write>(out: &mut W, src: &Source, findings: &[Finding]) -> BoxResult<()> {
    writeln!(out, "cache: {}", shown(src.location()))?;
    if let Some(p) = &src.preset {
        let owner = p.owner();
        writeln!(
            out,
            "preset: {} ({:?} confidence; written by {owner:?})",
            p.preset(),
            p.preset().confidence()
        )?;
    }
    for f in findings {
        writeln!(out, "[{:<7}] {}: {}", f.level.tag(), f.topic, f.message)?;
        if let (Some(fix), true) = (&f.fix, f.level != Level::Ok) {
            let auto = if f.action.is_some() { " (doctor --fix does this)" } else { "" };
            writeln!(out, "          fix: {fix}{auto}")?;
        }
    }
    let problems = findings.iter().filter(|f| f.level == Level::Problem).count();
    writeln!(out, "{problems} problem(s)")?;
    Ok(())
}

/// Findings as JSON; with `--fix`, what was applied (the findings are those found after it).
fn write_json<W: Write>(
    out: &mut W,
    src: &Source,
    findings: &[Finding],
    applied: Option<&[Applied]>,
) -> BoxResult<()> {
    let list: Vec<_> = findings
        .iter()
        .map(|f| {
            json!({"level": f.level.tag(), "topic": f.topic, "message": f.message, "fix": f.fix,
                   "fixable": f.action.is_some()})
        })
        .collect();
    let mut v = json!({
        "cache": src.location().display().to_string(),
        "backend": src.spec.backend_name(),
        "encrypted": src.spec.is_encrypted(),
        "problems": findings.iter().filter(|f| f.level == Level::Problem).count(),
        "findings": list,
    });
    if let Some(applied) = applied {
        let fixes: Vec<Value> = applied
            .iter()
            .map(|a| match &a.result {
                Ok(done) => json!({"topic": a.topic, "done": true, "result": done}),
                Err(e) => json!({"topic": a.topic, "done": false, "result": e}),
            })
            .collect();
        v["fixes"] = Value::Array(fixes);
    }
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(())
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.tag())
    }
}

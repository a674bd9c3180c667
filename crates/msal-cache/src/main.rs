//! `msal-cache`: see, check, repair and migrate MSAL token caches.
//!
//! Today it runs the project's demo: several processes update one cache file
//! at once under the cross-process lock, then it checks that nothing was lost.

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See, check, repair and migrate MSAL token caches.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Several processes update one file at once under the lock; then check that nothing was lost.
    Demo(demo::DemoArgs),
    /// One demo process (started by `demo`).
    #[command(hide = true)]
    DemoWorker(demo::WorkerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args, &mut std::io::stdout()),
        Command::DemoWorker(args) => demo::worker(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("msal-cache: {}", error_chain(e.as_ref()));
            ExitCode::from(2)
        }
    }
}

/// The error and its sources, each printed once.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

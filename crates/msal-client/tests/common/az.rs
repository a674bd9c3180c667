//! The real Azure CLI 2.91 (`scripts/azure-cli-peer.sh`: azure-cli-core and
//! the azure-cli command modules in a venv, `MSALX_AZ_PYTHON`) driven offline
//! against the local identity provider: its own `az cloud register` points a
//! cloud at the IdP, `REQUESTS_CA_BUNDLE` trusts the test CA, and
//! `core.instance_discovery=false` (an Azure CLI setting, here through its
//! environment form) keeps MSAL from asking login.microsoftonline.com about
//! an unknown host. Shared by msal-client's and msal-cache's tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The cloud the tests register; its login endpoint is the IdP.
pub const CLOUD: &str = "MsalTestCloud";
/// ARM's audience in Azure CLI's public cloud (what the test cloud keeps).
pub const ARM_RESOURCE: &str = "https://management.core.windows.net/";

/// The interpreter of the Azure CLI venv, or `None` (skip; a failure in CI).
pub fn az_python() -> Option<PathBuf> {
    match std::env::var_os("MSALX_AZ_PYTHON").map(PathBuf::from) {
        Some(p) if p.exists() => Some(p),
        _ => super::peer_missing(
            "Azure CLI 2.91 (MSALX_AZ_PYTHON)",
            "run the tests through scripts/test.sh, or eval \"$(bash scripts/azure-cli-peer.sh)\"",
        ),
    }
}

/// One Azure CLI configuration folder (`AZURE_CONFIG_DIR`) whose active
/// cloud signs in at `login_endpoint`.
pub struct Az {
    pub py: PathBuf,
    pub dir: PathBuf,
    pub ca: PathBuf,
}

impl Az {
    /// Registers and selects the test cloud, as a user would with `az cloud register/set`.
    pub fn new(py: PathBuf, dir: &Path, login_endpoint: &str, ca: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let az = Az { py, dir: dir.to_path_buf(), ca: ca.to_path_buf() };
        az.run(&[
            "cloud",
            "register",
            "-n",
            CLOUD,
            "--skip-endpoint-discovery",
            "--endpoint-active-directory",
            login_endpoint,
            "--endpoint-active-directory-resource-id",
            ARM_RESOURCE,
            "--endpoint-resource-manager",
            "https://management.azure.com/",
        ]);
        az.run(&["cloud", "set", "-n", CLOUD]);
        az
    }

    /// `az ARGS` with this folder and the test CA.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.py);
        c.args(["-m", "azure.cli"]).args(args);
        self.configure(&mut c);
        c
    }

    /// Gives `c` this folder, the test CA and the offline settings.
    pub fn configure(&self, c: &mut Command) {
        c.env("AZURE_CONFIG_DIR", &self.dir)
            .env("REQUESTS_CA_BUNDLE", &self.ca)
            .env("AZURE_CORE_INSTANCE_DISCOVERY", "false")
            .env("AZURE_CORE_COLLECT_TELEMETRY", "false")
            .env("AZURE_CORE_NO_COLOR", "true")
            .env("AZURE_CORE_LOGIN_EXPERIENCE_V2", "false")
            .env_remove("AZURE_CLOUD_NAME")
            .stdin(Stdio::null());
    }

    /// Runs `az ARGS`, panicking with its output when it fails or hangs.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self.command(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let out = wait(child, Duration::from_secs(120), &format!("az {args:?}"));
        assert!(
            out.status.success(),
            "az {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `az ARGS -o json`, parsed.
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_slice(&self.run(&all).stdout).unwrap()
    }

    /// `az login --use-device-code --tenant T --skip-subscription-discovery`
    /// (no ARM request: a tenant-level account), approving the code it
    /// prints as the user would.
    pub fn login_device_code(&self, tenant: &str, approve: impl FnOnce(&str, &str)) {
        let args =
            ["login", "--use-device-code", "--tenant", tenant, "--skip-subscription-discovery", "-o", "none"];
        let mut child = self.command(&args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (uri, code) = loop {
            let mut line = String::new();
            if stderr.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
                let _ = child.kill();
                panic!("az login printed no device code: {seen}");
            }
            seen.push_str(&line);
            if let Some(found) = device_prompt(&line) {
                break found;
            }
        };
        approve(&uri, &code);
        // Keep draining stderr so az never blocks writing to it.
        let rest = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let out = wait(child, Duration::from_secs(60), "az login --use-device-code");
        let rest = rest.join().unwrap_or_default();
        assert!(out.status.success(), "az login failed: {seen}{rest}");
    }
}

/// The verification URL and user code in a device-code message
/// ("... open the page URL and enter the code CODE to authenticate.").
pub fn device_prompt(line: &str) -> Option<(String, String)> {
    let code = line.split("enter the code ").nth(1)?.split_whitespace().next()?.to_owned();
    let uri = line.split_whitespace().find(|w| w.starts_with("https://"))?.to_owned();
    Some((uri, code))
}

/// Waits for `child` at most `limit`, killing it on expiry.
pub fn wait(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    // Drain the pipes on threads so a chatty child cannot block on a full pipe.
    let out = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            b
        })
    });
    let err = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            b
        })
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let join = |h: Option<std::thread::JoinHandle<Vec<u8>>>| h.map(|h| h.join().unwrap()).unwrap_or_default();
    Output { status, stdout: join(out), stderr: join(err) }
}

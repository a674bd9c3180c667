//! A fresh process printing a cached token, side by side in one run:
//!
//! - `msal-cache token --preset azure-cli` (and `--json`);
//! - MSAL Python 1.39 + msal-extensions 1.3.1 doing the same silent
//!   acquisition in a fresh interpreter (`benches/py/msal_token.py`);
//! - `az account get-access-token` (azure-cli 2.91, PyPI).
//!
//! The Azure CLI folder is made by the real `az` (`az cloud register` of a
//! cloud whose login endpoint is the local IdP, `az login --use-device-code`),
//! so every command reads the same cache holding a valid token, offline; the
//! IdP must see no token request while the commands run.
//!
//! Run: `bash scripts/bench-token.sh [RUNS]`, which builds the release
//! `msal-cache`, installs azure-cli in a benchmark-only venv and sets
//! `MSAL_CACHE_BIN` and `MSALX_AZ_PYTHON` (that venv's interpreter, which
//! also runs the MSAL Python anchor: azure-cli 2.91 pins msal 1.39 and
//! msal-extensions 1.3.1).

#[cfg(unix)]
#[path = "../tests/common/az.rs"]
mod az;

#[cfg(unix)]
fn main() {
    unix::main();
}

#[cfg(not(unix))]
fn main() {
    eprintln!("token_process: Unix only (spawns and times processes with wait4)");
}

/// What `az.rs` calls when a peer is missing: the benchmark needs them all.
#[cfg(unix)]
fn peer_missing<T>(what: &str, how: &str) -> Option<T> {
    panic!("{what} is not available: {how}")
}

#[cfg(unix)]
mod unix {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    use super::az::{Az, az_python};
    use msal_client::azure_cli::AZURE_CLI_CLIENT_ID as AZ_CLI;
    use msal_test_idp::{Idp, TENANT, USERNAME};

    const ARM: &str = "https://management.core.windows.net//.default";

    struct Stats {
        n: usize,
        wall_median: f64,
    }

    /// Spawns `argv` `n` times (after one warm-up run), each time checking
    /// that it printed `expect`; prints wall min/median/p90 and the child's
    /// CPU time (user + sys from `wait4`).
    fn measure(name: &str, mut make: impl FnMut() -> Command, n: usize, expect: &str) -> Stats {
        let check = |out: &[u8]| {
            let text = String::from_utf8_lossy(out);
            assert!(text.contains(expect), "{name} printed something else: {text}");
        };
        check(&make().stderr(Stdio::inherit()).output().expect("spawn").stdout);
        let (mut wall, mut cpu) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for _ in 0..n {
            let start = Instant::now();
            let child = make().stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("spawn");
            let (out, ms_cpu) = wait4(child);
            wall.push(start.elapsed().as_secs_f64() * 1e3);
            cpu.push(ms_cpu);
            check(&out);
        }
        wall.sort_by(f64::total_cmp);
        cpu.sort_by(f64::total_cmp);
        let p90 = wall[(n * 9 / 10).saturating_sub(1)];
        println!(
            "{name:<58} n={n:<4} wall min {:8.2}  median {:8.2}  p90 {:8.2} ms | cpu median {:8.2} ms",
            wall[0],
            wall[n / 2],
            p90,
            cpu[n / 2]
        );
        Stats { n, wall_median: wall[n / 2] }
    }

    /// Reads the child's stdout, reaps it with `wait4` and returns its CPU time in ms.
    fn wait4(mut child: std::process::Child) -> (Vec<u8>, f64) {
        use std::io::Read;
        let mut out = Vec::new();
        child.stdout.take().expect("piped").read_to_end(&mut out).expect("read stdout");
        let mut status = 0;
        let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `ru` and `status` are valid for writes; the pid is our unreaped child.
        let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, ru.as_mut_ptr()) };
        assert_eq!(pid, child.id() as libc::pid_t, "wait4");
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "child failed: {status}");
        // SAFETY: wait4 succeeded, so it filled `ru`.
        let ru = unsafe { ru.assume_init() };
        let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
        (out, ms(ru.ru_utime) + ms(ru.ru_stime))
    }

    fn approve(ca_pem: &str, uri: &str, code: &str) {
        let ca = ureq::tls::Certificate::from_pem(ca_pem.as_bytes()).expect("CA");
        let tls =
            ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::new_with_certs(&[ca])).build();
        let agent = ureq::Agent::config_builder().tls_config(tls).build().new_agent();
        agent.get(format!("{uri}?user_code={code}")).call().expect("approve the device code");
    }

    pub fn main() {
        let runs: usize =
            std::env::args().skip_while(|a| a != "--runs").nth(1).and_then(|v| v.parse().ok()).unwrap_or(300);
        let bin = PathBuf::from(
            std::env::var_os("MSAL_CACHE_BIN").expect("MSAL_CACHE_BIN: the release msal-cache"),
        );
        let py = az_python().expect("AZ python");
        let az_script = py.parent().expect("venv bin").join("az");
        let idp = Idp::start();
        idp.register_public_client(AZ_CLI, Some("1"));
        let work = std::env::temp_dir().join(format!("msal-token-bench-{}", std::process::id()));
        let az = Az::new(py.clone(), &work.join(".azure"), &idp.base_url(), &idp.ca_path());
        az.login_device_code(TENANT, |uri, code| approve(idp.ca_pem(), uri, code));
        let token = idp.issued_access_tokens().last().expect("az login's token").clone();
        idp.reset_counts();

        println!("# {}", host_line());
        println!(
            "# Azure CLI folder made by az 2.91 (cloud register + login --use-device-code); one user, a valid ARM token"
        );
        println!("# command: bash scripts/bench-token.sh {runs}");
        let floor = measure("/bin/true (spawn floor)", || Command::new("/bin/true"), runs, "");
        let with_az_env = |mut c: Command| {
            az.configure(&mut c);
            c
        };
        let ours = measure(
            "msal-cache token --preset azure-cli",
            || with_az_env(cmd(&bin, &["token", "--preset", "azure-cli"])),
            runs,
            &token,
        );
        measure(
            "msal-cache token --preset azure-cli --json",
            || with_az_env(cmd(&bin, &["token", "--preset", "azure-cli", "--json"])),
            runs,
            &token,
        );
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/py/msal_token.py");
        let cache = work.join(".azure/msal_token_cache.json");
        let authority = format!("{}/{TENANT}", idp.base_url());
        let http_cache = work.join("msal_http_cache.bin");
        let ca = idp.ca_path();
        let py_args = [
            script.as_os_str(),
            cache.as_os_str(),
            authority.as_ref(),
            ca.as_os_str(),
            AZ_CLI.as_ref(),
            ARM.as_ref(),
            USERNAME.as_ref(),
            http_cache.as_os_str(),
        ];
        let python = measure(
            "MSAL Python + msal-extensions, silent, fresh process",
            || {
                let mut c = Command::new(&py);
                c.args(py_args);
                c
            },
            (runs / 10).max(20),
            &token,
        );
        let az_cli = measure(
            "az account get-access-token -o json",
            || with_az_env(cmd(&az_script, &["account", "get-access-token", "-o", "json"])),
            (runs / 30).max(10),
            &token,
        );
        assert_eq!(idp.count("token"), 0, "a command renewed the token: {:?}", idp.counts());
        println!(
            "# requests at the IdP while measuring: {:?} (no token request: every command read the cache; \
             the one discovery GET is MSAL Python's warm-up run filling its HTTP cache)",
            idp.counts()
        );
        let r = |s: &Stats| s.wall_median / ours.wall_median;
        println!(
            "# medians: msal-cache {:.2} ms (spawn floor {:.2} ms); MSAL Python {:.1} ms = {:.0}x; az {:.0} ms = {:.0}x (n={}, {}, {})",
            ours.wall_median,
            floor.wall_median,
            python.wall_median,
            r(&python),
            az_cli.wall_median,
            r(&az_cli),
            ours.n,
            python.n,
            az_cli.n
        );
        let _ = std::fs::remove_dir_all(&work);
    }

    fn cmd(program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args);
        c
    }

    fn host_line() -> String {
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        format!("{} {}, {cpus} cpus, load {}", std::env::consts::OS, std::env::consts::ARCH, load.join(" "))
    }
}

//! Output helpers: plain-text tables, times ("in 42 min", "expired"),
//! secret fingerprints. Every writer takes `W: io::Write` so tests can
//! capture it.

use std::io::{self, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// The current time in unix seconds; `MSAL_CACHE_NOW` overrides it so that
/// test snapshots of relative times ("in 42 min") are reproducible.
pub fn now() -> i64 {
    if let Some(t) = std::env::var("MSAL_CACHE_NOW").ok().and_then(|v| v.parse().ok()) {
        return t;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A short, one-way fingerprint of a secret: `sha256:` and 8 hex digits.
/// Enough to tell two tokens apart or match one against a log; useless to
/// recover the token.
pub fn fingerprint(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    format!("sha256:{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SSZ` (UTC).
pub fn utc(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (the era-based method: 400-year eras of 146097 days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `expires` relative to `now`: "in 42 min", "in 3 h", "expired 5 min ago".
pub fn relative(expires: i64, now: i64) -> String {
    let delta = expires - now;
    if delta <= 0 {
        return format!("expired {} ago", span(-delta));
    }
    format!("in {}", span(delta))
}

fn span(s: i64) -> String {
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 * 2 => format!("{} h", s / 3600),
        s => format!("{} d", s / 86_400),
    }
}

/// Writes rows as a left-aligned table with a header and two spaces between columns.
pub fn table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in rows {
        writeln!(out, "{}", line(row.iter().map(String::as_str).collect()))?;
    }
    Ok(())
}

/// Removes control characters from text that came from a cache file, so a
/// crafted entry cannot drive the terminal.
pub fn clean(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned(); // the usual case: one copy, no char-by-char rebuild
    }
    s.chars().filter(|c| !c.is_control()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_spans() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_900_000_000), "2030-03-17 17:46:40Z");
        assert_eq!(relative(100 + 42 * 60, 100), "in 42 min");
        assert_eq!(relative(100, 100), "expired 0 s ago");
        assert_eq!(relative(0, 7200), "expired 2 h ago");
        assert_eq!(relative(86_400 * 10, 0), "in 10 d");
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        // printf %s abc | sha256sum → ba7816bf...
        assert_eq!(fingerprint("abc"), "sha256:ba7816bf");
    }

    #[test]
    fn table_aligns() {
        let mut v = Vec::new();
        table(&mut v, &["A", "BB"], &[vec!["xxx".into(), "y".into()]]).unwrap();
        assert_eq!(String::from_utf8(v).unwrap(), "A    BB\nxxx  y\n");
    }
}

//! Output helpers: plain-text tables, times ("in 42 min", "expired"),
//! secret fingerprints. Every writer takes `W: io::Write` so tests can
//! capture it.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::{self, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use msal_extensions::Secret;

/// The current time in unix seconds; `MSAL_CACHE_NOW` overrides it so that
/// test snapshots of relative times ("in 42 min") are reproducible.
pub fn now() -> i64 {
    if let Some(t) = std::env::var("MSAL_CACHE_NOW").ok().and_then(|v| v.parse().ok()) {
        return t;
    }
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// A short, one-way fingerprint of a secret: the library's
/// [`Secret::fingerprint`], the one format the tool shows.
pub fn fingerprint(secret: &str) -> String {
    Secret::new(secret).fingerprint()
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

/// Writes rows as a left-aligned table with a header and two spaces between
/// columns; every cell is [`clean`]ed (a newline in a cell cannot fake a row).
pub fn table<W: Write>(out: &mut W, header: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
    let rows: Vec<Vec<Cow<'_, str>>> = rows.iter().map(|r| r.iter().map(|c| escaped(c)).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_owned()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for row in &rows {
        writeln!(out, "{}", line(row.iter().map(|c| c.as_ref()).collect()))?;
    }
    Ok(())
}

/// Text from a cache, a file name or an error, made safe to print: every
/// character that could drive a terminal becomes a visible escape, so a
/// crafted entry or file name cannot recolour, hide or rewrite what is shown.
///
/// ASCII controls (newline included) become `\x1b`-style escapes; DEL, C1
/// controls and the bidirectional-override characters become `\u009b`-style
/// escapes, which JSON reads back as the same character.
pub fn clean(s: &str) -> String {
    escaped(s).into_owned()
}

/// [`clean`] without a copy when there is nothing to escape (the usual case).
fn escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| is_dangerous(c, false)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s, false);
    Cow::Owned(out)
}

/// A path as shown in messages: [`clean`] of its display form.
pub fn shown(p: &Path) -> String {
    clean(&p.display().to_string())
}

/// Characters a terminal may act on: controls (all of them, or all but
/// `'\n'`), and the bidirectional overrides/isolates that reorder what is seen.
fn is_dangerous(c: char, keep_newline: bool) -> bool {
    (c.is_control() && !(keep_newline && c == '\n'))
        || matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_into(out: &mut String, s: &str, keep_newline: bool) {
    for c in s.chars() {
        match c {
            c if !is_dangerous(c, keep_newline) => out.push(c),
            // DEL too is written `\u007f`: JSON, which keeps it raw, reads that form back.
            c if c < '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{:04x}", c as u32)),
        }
    }
}

/// `s` quoted for a POSIX shell (sh, bash, zsh), so a printed command can be
/// pasted as is: bare when every character is plain, in single quotes when
/// not, and as bash/zsh `$'...'` with `\xHH` escapes when it holds control
/// characters or bytes that are not UTF-8 (so the command stays visible too).
pub fn shell_quote(s: &OsStr) -> String {
    let bytes = s.as_encoded_bytes();
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"_./:@%+=,-".contains(b);
    if !bytes.is_empty() && bytes.iter().all(plain) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(|c| is_dangerous(c, false)) => {
            format!("'{}'", text.replace('\'', r"'\''"))
        }
        _ => dollar_quote(bytes),
    }
}

/// `$'...'`: printable UTF-8 kept, everything else as `\xHH` bytes.
fn dollar_quote(mut bytes: &[u8]) -> String {
    let mut out = String::from("$'");
    while !bytes.is_empty() {
        let (valid, bad) = match std::str::from_utf8(bytes) {
            Ok(s) => (s, 0),
            Err(e) => {
                let bad = e.error_len().unwrap_or(bytes.len() - e.valid_up_to());
                (std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default(), bad)
            }
        };
        for c in valid.chars() {
            match c {
                '\\' | '\'' => {
                    out.push('\\');
                    out.push(c);
                }
                c if is_dangerous(c, false) => hex_bytes(&mut out, c.encode_utf8(&mut [0; 4]).as_bytes()),
                c => out.push(c),
            }
        }
        let (cut, rest) = bytes[valid.len()..].split_at(bad);
        hex_bytes(&mut out, cut);
        bytes = rest;
    }
    out.push('\'');
    out
}

fn hex_bytes(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        out.push_str(&format!("\\x{b:02x}"));
    }
}

/// A writer that escapes, as [`clean`] does, every dangerous character
/// written through it except `'\n'`, and every byte that is not UTF-8: the
/// backstop that keeps whatever a command prints (stdout) terminal-safe.
///
/// JSON output passes through unchanged in meaning: serde_json already
/// escapes ASCII controls, and the `\u009b`-style escapes used for the others
/// are valid JSON string escapes of the same character.
#[derive(Debug)]
pub struct Escaping<W: Write> {
    inner: W,
    /// The start of a UTF-8 sequence cut by the end of the last write.
    pending: Vec<u8>,
}

impl<W: Write> Escaping<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        Escaping { inner, pending: Vec::new() }
    }

    fn write_escaped(&mut self, data: &[u8]) -> io::Result<()> {
        let mut rest = data;
        let mut out = String::new();
        while !rest.is_empty() {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    escape_into(&mut out, s, true);
                    rest = &[];
                }
                Err(e) => {
                    let (valid, tail) = rest.split_at(e.valid_up_to());
                    escape_into(&mut out, std::str::from_utf8(valid).unwrap_or_default(), true);
                    let Some(bad) = e.error_len() else {
                        self.pending = tail.to_vec(); // completed by the next write
                        break;
                    };
                    hex_bytes(&mut out, &tail[..bad]);
                    rest = &tail[bad..];
                }
            }
        }
        self.inner.write_all(out.as_bytes())
    }
}

/// `true` when `buf` may hold something to escape: a control byte other
/// than `'\n'`, DEL, or any non-ASCII byte (C1 controls, bidi overrides).
fn needs_escaping(buf: &[u8]) -> bool {
    buf.iter().any(|&b| (b < 0x20 && b != b'\n') || b >= 0x7f)
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pending.is_empty() && !needs_escaping(buf) {
            self.inner.write_all(buf)?;
        } else {
            let mut data = std::mem::take(&mut self.pending);
            data.extend_from_slice(buf);
            self.write_escaped(&data)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let cut = std::mem::take(&mut self.pending);
            let mut shown = String::new();
            hex_bytes(&mut shown, &cut);
            self.inner.write_all(shown.as_bytes())?;
        }
        self.inner.flush()
    }
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

    #[test]
    fn clean_makes_controls_visible() {
        assert_eq!(clean("plain name"), "plain name");
        assert_eq!(clean("a\x1b[31mred\n"), "a\\x1b[31mred\\x0a");
        assert_eq!(clean("\u{9b}2J \u{202e}cba \x7f"), "\\u009b2J \\u202ecba \\u007f");
    }

    #[test]
    fn shell_quote_makes_paths_pasteable() {
        let q = |s: &str| shell_quote(OsStr::new(s));
        assert_eq!(q("/home/me/.azure/msal_token_cache.json"), "/home/me/.azure/msal_token_cache.json");
        assert_eq!(q("/tmp/my cache"), "'/tmp/my cache'");
        assert_eq!(q("/tmp/it's"), r"'/tmp/it'\''s'");
        assert_eq!(q(""), "''");
        assert_eq!(q("a\x1bb'c\\"), r"$'a\x1bb\'c\\'");
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            assert_eq!(shell_quote(OsStr::from_bytes(b"x\xffy")), r"$'x\xffy'");
        }
    }

    #[test]
    fn escaping_writer_keeps_newlines_and_json_meaning() {
        let mut w = Escaping::new(Vec::new());
        // A C1 control cut in the middle by two writes is still caught.
        w.write_all(b"ok\n\x1b[2J\xc2").unwrap();
        w.write_all(b"\x9b \xff\n").unwrap();
        w.flush().unwrap();
        assert_eq!(String::from_utf8(w.inner).unwrap(), "ok\n\\x1b[2J\\u009b \\xff\n");
        let json = serde_json::json!({"u": "\u{9b}\u{202e}\x1b"}).to_string();
        let mut w = Escaping::new(Vec::new());
        w.write_all(json.as_bytes()).unwrap();
        let back: serde_json::Value = serde_json::from_slice(&w.inner).unwrap();
        assert_eq!(back["u"], "\u{9b}\u{202e}\x1b", "the escapes are JSON escapes of the same text");
        assert!(!w.inner.iter().any(|&b| b == 0x1b || b >= 0x80));
    }
}

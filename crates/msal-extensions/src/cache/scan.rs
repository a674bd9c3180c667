//! A cursor over a cache document that walks its two outer levels (sections,
//! then entries) itself and hands each entry to `serde_json`, noting where
//! the entry starts and ends.
//!
//! Why: reloading a cache after another process wrote it is the cost every
//! MSAL app pays on its next token lookup, and most of a large cache is
//! access tokens that the lookup never reads. With the entries' positions
//! known, the loader keeps each access token as a range of the file's text
//! (see `model::Lazy`): serde_json checks it (its skipping is fast) but
//! nothing is built or copied. The other, small sections are parsed as usual.

use std::ops::Range;

use serde::de::DeserializeOwned;

use super::model::Key;

/// Why a document was refused, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail {
    pub(crate) kind: FailKind,
    /// Byte offset where the failing part starts.
    pub(crate) at: usize,
    /// serde_json's line and column, counted from `at`, when it found the fault.
    pub(crate) within: Option<(usize, usize)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FailKind {
    /// The text ends inside a value.
    Eof,
    /// Not JSON.
    Syntax,
    /// JSON, but a section or entry is not an object.
    NotCache,
    /// Starts with a UTF-8 byte-order mark.
    Bom,
    /// Nested deeper than serde_json's recursion limit (128 levels).
    TooDeep,
    /// A complete document, then more than whitespace (`at` is where that starts).
    Trailing,
}

impl Fail {
    /// Where and how the text is bad, by position only (never quoting it).
    pub(crate) fn describe(&self, text: &str) -> String {
        if self.kind == FailKind::Bom {
            return "the content starts with a UTF-8 byte-order mark (bytes EF BB BF), which no MSAL library \
                    writes or reads; remove those three bytes"
                .into();
        }
        let what = match self.kind {
            FailKind::Eof => "ends early (truncated?)",
            FailKind::Syntax | FailKind::Bom => "is not valid JSON",
            FailKind::NotCache => "is JSON but not an MSAL cache (a section or entry is not an object)",
            FailKind::TooDeep => "nests arrays or objects more than 128 levels deep (no MSAL cache does)",
            FailKind::Trailing => {
                "is a complete cache followed by other data (msal-node can leave such files)"
            }
        };
        let prep = if self.kind == FailKind::Trailing { ", starting" } else { "" };
        let at = self.at.min(text.len());
        let before = &text.as_bytes()[..at];
        let mut line = 1 + memchr::memchr_iter(b'\n', before).count();
        let mut column = 1 + at - memchr::memrchr(b'\n', before).map_or(0, |nl| nl + 1);
        match self.within {
            Some((1, c)) => column += c.saturating_sub(1),
            Some((l, c)) => (line, column) = (line + l - 1, c),
            None => {}
        }
        format!("the content {what}{prep} at line {line} column {column}")
    }
}

pub(crate) type Scanned<T> = Result<T, Fail>;

/// A cursor over JSON text.
pub(crate) struct Scan<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Scan<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Scan { text, pos: 0 }
    }

    pub(crate) fn fail<T>(&self, kind: FailKind, at: usize) -> Scanned<T> {
        Err(Fail { kind, at, within: None })
    }

    /// A syntax error here, or "ends early" when there is nothing left.
    fn unexpected<T>(&self) -> Scanned<T> {
        let kind = if self.pos >= self.text.len() { FailKind::Eof } else { FailKind::Syntax };
        self.fail(kind, self.pos)
    }

    /// Skips whitespace and returns the next byte without consuming it.
    pub(crate) fn peek(&mut self) -> Scanned<u8> {
        let b = self.text.as_bytes();
        // Indented files (MSAL Python writes indent 4) are a third spaces:
        // skip runs of them eight at a time.
        while b.get(self.pos..self.pos + 8) == Some(b"        ") {
            self.pos += 8;
        }
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\n' | b'\r' | b'\t') {
                return Ok(c);
            }
            self.pos += 1;
        }
        self.unexpected()
    }

    fn eat(&mut self, want: u8) -> Scanned<()> {
        if self.peek()? != want {
            return self.unexpected();
        }
        self.pos += 1;
        Ok(())
    }

    /// Only whitespace may follow the document.
    pub(crate) fn finish(&mut self) -> Scanned<()> {
        match self.peek() {
            Ok(_) => self.fail(FailKind::Trailing, self.pos),
            Err(_) => Ok(()),
        }
    }

    /// Reads the value at the cursor with serde_json and moves past it.
    /// Returns the value and the range of text it was read from.
    pub(crate) fn read<T: DeserializeOwned>(&mut self) -> Scanned<(T, Range<usize>)> {
        self.peek()?;
        let start = self.pos;
        let mut stream = serde_json::Deserializer::from_str(&self.text[start..]).into_iter::<T>();
        match stream.next() {
            Some(Ok(v)) => {
                self.pos = start + stream.byte_offset();
                Ok((v, start..self.pos))
            }
            Some(Err(e)) => {
                let kind = match e.classify() {
                    serde_json::error::Category::Eof => FailKind::Eof,
                    serde_json::error::Category::Data => FailKind::NotCache,
                    // serde_json's own words for this code; they quote nothing.
                    _ if e.to_string().starts_with("recursion limit exceeded") => FailKind::TooDeep,
                    _ => FailKind::Syntax,
                };
                Err(Fail { kind, at: start, within: Some((e.line(), e.column())) })
            }
            None => self.unexpected(),
        }
    }

    /// Checks the value at the cursor and moves past it; returns its range.
    pub(crate) fn skip(&mut self) -> Scanned<Range<usize>> {
        self.read::<serde::de::IgnoredAny>().map(|(_, r)| r)
    }

    /// The text of a range.
    pub(crate) fn text(&self, r: Range<usize>) -> &'a str {
        &self.text[r]
    }

    /// Walks the members of the object that comes next. `on_member` is
    /// called with each key and must consume exactly the member's value.
    pub(crate) fn members(
        &mut self,
        mut on_member: impl FnMut(&mut Self, Key<'a>) -> Scanned<()>,
    ) -> Scanned<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek()? != b'"' {
                return self.unexpected();
            }
            let key = self.key()?;
            self.eat(b':')?;
            on_member(self, key)?;
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return self.unexpected(),
            }
        }
    }

    /// A key, borrowed from the text unless it has escapes.
    fn key(&mut self) -> Scanned<Key<'a>> {
        let start = self.pos;
        let b = self.text.as_bytes();
        let Some(len) = memchr::memchr2(b'"', b'\\', &b[start + 1..]) else {
            self.pos = b.len();
            return self.unexpected();
        };
        let body = &b[start + 1..start + 1 + len];
        if b[start + 1 + len] == b'"' && body.iter().all(|&c| c >= 0x20) {
            self.pos = start + len + 2;
            return Ok(Key::Borrowed(&self.text[start + 1..start + 1 + len]));
        }
        // Escapes (or a stray control character): serde_json decodes or refuses it.
        let (key, _) = self.read::<String>()?;
        Ok(Key::Owned(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Scanned<Vec<String>> {
        let mut sc = Scan::new(text);
        let mut out = Vec::new();
        sc.members(|sc, k| {
            out.push(k.into_owned());
            sc.skip().map(drop)
        })?;
        sc.finish()?;
        Ok(out)
    }

    #[test]
    fn walks_keys_with_and_without_escapes() {
        assert_eq!(keys(r#" { "a": 1, "b\u00e9\"": [2], "c": {"d": null} } "#).unwrap(), ["a", "bé\"", "c"]);
        assert_eq!(keys("{}").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn refuses_what_json_refuses() {
        for bad in [
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{1: 2}",
            "{\"a\":1} x",
            "{\"a\":",
            "{\"a\u{1}\":1}",
            r#"{"\ud800":1}"#,
            "{\"a\": tru}",
            "{\"a\": 01}",
            "",
        ] {
            assert!(keys(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn truncation_is_told_apart_from_garbage() {
        assert_eq!(keys(r#"{"a": "b"#).unwrap_err().kind, FailKind::Eof);
        assert_eq!(keys(r#"{"a": 1"#).unwrap_err().kind, FailKind::Eof);
        assert_eq!(keys(r#"{"a": x}"#).unwrap_err().kind, FailKind::Syntax);
    }

    #[test]
    fn positions_are_lines_and_columns() {
        let text = "{\n  \"a\": {\"b\": x}\n}";
        let f = keys(text).unwrap_err();
        assert_eq!(f.describe(text), "the content is not valid JSON at line 2 column 14");
        let text = "{\n  \"a\": {\n \"b\": x}\n}";
        assert_eq!(
            keys(text).unwrap_err().describe(text),
            "the content is not valid JSON at line 3 column 7"
        );
        let text = "{\"a\": 1 2}";
        assert_eq!(
            keys("{} x").unwrap_err().describe("{} x"),
            "the content is a complete cache followed by other data (msal-node can leave such files), \
             starting at line 1 column 4"
        );
        assert_eq!(
            keys(text).unwrap_err().describe(text),
            "the content is not valid JSON at line 1 column 9"
        );
    }
}

//! A thin, bounded cursor over quick-xml's borrowed event stream.
//!
//! The cursor tracks element nesting (enforcing the depth limit on every read), turns quick-xml
//! errors into [`OptError::Xml`] with line and column, and offers the small reading helpers the
//! OPT parser is built from: "next child element", "text of this element", "skip this element",
//! interval and scalar parsing. Every helper that is handed an element (after its start tag was
//! read) consumes it completely, up to and including its end tag.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::model::Interval;
use crate::parser::OptError;

/// The event reader plus the bookkeeping needed for limits and error positions.
pub(crate) struct Cursor<'a> {
    reader: Reader<&'a [u8]>,
    xml: &'a [u8],
    depth: usize,
    max_depth: usize,
}

impl std::fmt::Debug for Cursor<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("position", &self.pos())
            .field("depth", &self.depth)
            .field("max_depth", &self.max_depth)
            .finish()
    }
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(xml: &'a [u8], max_depth: usize) -> Self {
        let mut reader = Reader::from_reader(xml);
        let config = reader.config_mut();
        config.trim_text(true);
        config.check_end_names = true;
        config.expand_empty_elements = false;
        Cursor {
            reader,
            xml,
            depth: 0,
            max_depth,
        }
    }

    /// Byte offset just past the last event read.
    pub(crate) fn pos(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    /// Reads the next event, maintaining the nesting depth and enforcing the depth limit.
    pub(crate) fn next(&mut self) -> Result<Event<'a>, OptError> {
        match self.reader.read_event() {
            Ok(event) => {
                match &event {
                    Event::Start(_) => {
                        self.depth += 1;
                        if self.depth > self.max_depth {
                            return Err(self.depth_error());
                        }
                    }
                    Event::Empty(_) if self.depth + 1 > self.max_depth => {
                        return Err(self.depth_error());
                    }
                    Event::End(_) => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
                Ok(event)
            }
            Err(e) => {
                let at = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
                Err(self.xml_error_at(at, e.to_string()))
            }
        }
    }

    /// The next child element of the element being read: `Some((start, is_empty))`, or `None`
    /// once the enclosing element's end tag has been consumed. Text and comments are skipped.
    pub(crate) fn next_child(&mut self) -> Result<Option<(BytesStart<'a>, bool)>, OptError> {
        loop {
            match self.next()? {
                Event::Start(e) => return Ok(Some((e, false))),
                Event::Empty(e) => return Ok(Some((e, true))),
                Event::End(_) => return Ok(None),
                Event::Eof => return Err(self.eof_error()),
                _ => {}
            }
        }
    }

    /// Skips the rest of an element whose start tag was just read (`empty`: it was `<x/>`).
    pub(crate) fn skip(&mut self, empty: bool) -> Result<(), OptError> {
        if empty {
            return Ok(());
        }
        let mut level = 0usize;
        loop {
            match self.next()? {
                Event::Start(_) => level += 1,
                Event::End(_) => {
                    if level == 0 {
                        return Ok(());
                    }
                    level -= 1;
                }
                Event::Eof => return Err(self.eof_error()),
                _ => {}
            }
        }
    }

    /// The text content of an element whose start tag was just read, including the text of any
    /// nested elements (so `<archetype_id><value>x</value></archetype_id>` reads as `x`),
    /// unescaped and trimmed.
    pub(crate) fn text(&mut self, empty: bool) -> Result<Cow<'a, str>, OptError> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        let mut out: Option<Cow<'a, str>> = None;
        let mut level = 0usize;
        loop {
            match self.next()? {
                Event::Text(t) => {
                    let s = t.unescape().map_err(|e| self.xml_error(e.to_string()))?;
                    append(&mut out, s);
                }
                Event::CData(c) => {
                    let s = match c.into_inner() {
                        Cow::Borrowed(b) => Cow::Borrowed(
                            std::str::from_utf8(b).map_err(|e| self.xml_error(e.to_string()))?,
                        ),
                        Cow::Owned(b) => Cow::Owned(
                            String::from_utf8(b).map_err(|e| self.xml_error(e.to_string()))?,
                        ),
                    };
                    append(&mut out, s);
                }
                Event::Start(_) => level += 1,
                Event::End(_) => {
                    if level == 0 {
                        break;
                    }
                    level -= 1;
                }
                Event::Eof => return Err(self.eof_error()),
                _ => {}
            }
        }
        Ok(trim_cow(out.unwrap_or(Cow::Borrowed(""))))
    }

    /// The text of an element as an owned string.
    pub(crate) fn string(&mut self, empty: bool) -> Result<String, OptError> {
        Ok(self.text(empty)?.into_owned())
    }

    /// The text of an element parsed as an integer.
    pub(crate) fn int(&mut self, empty: bool, what: &str) -> Result<i64, OptError> {
        let t = self.text(empty)?;
        t.parse::<i64>()
            .map_err(|_| self.invalid(format!("invalid integer {t:?} in <{what}>")))
    }

    /// The text of an element parsed as a real number.
    pub(crate) fn real(&mut self, empty: bool, what: &str) -> Result<f64, OptError> {
        let t = self.text(empty)?;
        t.parse::<f64>()
            .map_err(|_| self.invalid(format!("invalid real {t:?} in <{what}>")))
    }

    /// The text of an element parsed as an XML Schema boolean.
    pub(crate) fn boolean(&mut self, empty: bool, what: &str) -> Result<bool, OptError> {
        let t = self.text(empty)?;
        match &*t {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            _ => Err(self.invalid(format!("invalid boolean {t:?} in <{what}>"))),
        }
    }

    /// An interval element (`lower`, `upper`, `*_included`, `*_unbounded`). A bound that is
    /// missing, empty or flagged unbounded is `None`; `*_included` defaults to true for a
    /// present bound and is always false for an absent one.
    pub(crate) fn interval<T>(
        &mut self,
        empty: bool,
        what: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Interval<T>, OptError> {
        let mut lower = None;
        let mut upper = None;
        let (mut lower_included, mut upper_included) = (None, None);
        let (mut lower_unbounded, mut upper_unbounded) = (false, false);
        if !empty {
            while let Some((e, empty)) = self.next_child()? {
                match e.local_name().as_ref() {
                    b"lower" => lower = self.bound(empty, what, parse)?,
                    b"upper" => upper = self.bound(empty, what, parse)?,
                    b"lower_included" => {
                        lower_included = Some(self.boolean(empty, "lower_included")?)
                    }
                    b"upper_included" => {
                        upper_included = Some(self.boolean(empty, "upper_included")?)
                    }
                    b"lower_unbounded" => {
                        lower_unbounded = self.boolean(empty, "lower_unbounded")?
                    }
                    b"upper_unbounded" => {
                        upper_unbounded = self.boolean(empty, "upper_unbounded")?
                    }
                    _ => self.skip(empty)?,
                }
            }
        }
        if lower_unbounded {
            lower = None;
        }
        if upper_unbounded {
            upper = None;
        }
        Ok(Interval {
            lower_included: lower.is_some() && lower_included.unwrap_or(true),
            upper_included: upper.is_some() && upper_included.unwrap_or(true),
            lower,
            upper,
        })
    }

    fn bound<T>(
        &mut self,
        empty: bool,
        what: &str,
        parse: fn(&str) -> Option<T>,
    ) -> Result<Option<T>, OptError> {
        let t = self.text(empty)?;
        if t.is_empty() {
            return Ok(None);
        }
        match parse(&t) {
            Some(v) => Ok(Some(v)),
            None => Err(self.invalid(format!("invalid bound {t:?} in <{what}>"))),
        }
    }

    /// Byte offset of the `<` of the start tag `e` that was just read (`empty`: `<e/>`).
    pub(crate) fn tag_start(&self, e: &BytesStart<'_>, empty: bool) -> usize {
        self.pos()
            .saturating_sub(e.len() + if empty { 3 } else { 2 })
    }

    /// An `Invalid` error at the current position.
    pub(crate) fn invalid(&self, message: impl Into<String>) -> OptError {
        self.invalid_at(self.pos().saturating_sub(1), message)
    }

    /// An `Invalid` error at byte offset `at`.
    pub(crate) fn invalid_at(&self, at: usize, message: impl Into<String>) -> OptError {
        let (line, column) = line_col(self.xml, at);
        OptError::Invalid {
            line,
            column,
            message: message.into(),
        }
    }

    fn xml_error(&self, message: String) -> OptError {
        self.xml_error_at(self.pos().saturating_sub(1), message)
    }

    fn xml_error_at(&self, at: usize, message: String) -> OptError {
        let (line, column) = line_col(self.xml, at);
        OptError::Xml {
            line,
            column,
            message,
        }
    }

    /// The input ended inside an element.
    pub(crate) fn eof_error(&self) -> OptError {
        self.xml_error_at(
            self.xml.len(),
            "unexpected end of input: unclosed element".to_owned(),
        )
    }

    fn depth_error(&self) -> OptError {
        let (line, column) = line_col(self.xml, self.pos().saturating_sub(1));
        OptError::Limit(format!(
            "element nesting deeper than {} at line {line}, column {column}",
            self.max_depth
        ))
    }
}

fn append<'a>(out: &mut Option<Cow<'a, str>>, s: Cow<'a, str>) {
    match out {
        None => *out = Some(s),
        Some(prev) => prev.to_mut().push_str(&s),
    }
}

fn trim_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    match s {
        Cow::Borrowed(b) => Cow::Borrowed(b.trim()),
        Cow::Owned(o) => {
            let t = o.trim();
            if t.len() == o.len() {
                Cow::Owned(o)
            } else {
                Cow::Owned(t.to_owned())
            }
        }
    }
}

/// The local part of a qualified name or `xsi:type` value (`xsi:C_STRING` → `C_STRING`).
pub(crate) fn local_part(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(i) => &name[i + 1..],
        None => name,
    }
}

/// The local part of the element's `xsi:type` attribute (any prefix, or none), if present.
pub(crate) fn xsi_type<'e>(e: &'e BytesStart<'_>) -> Option<Cow<'e, [u8]>> {
    for attr in e.attributes().with_checks(false).flatten() {
        if attr.key.local_name().as_ref() == b"type" {
            return Some(match attr.value {
                Cow::Borrowed(v) => Cow::Borrowed(local_part(v)),
                Cow::Owned(v) => Cow::Owned(local_part(&v).to_vec()),
            });
        }
    }
    None
}

/// The unescaped value of the attribute with local name `name`, if present and well-formed.
pub(crate) fn attribute(e: &BytesStart<'_>, name: &[u8]) -> Option<String> {
    for attr in e.attributes().with_checks(false).flatten() {
        if attr.key.local_name().as_ref() == name {
            return attr.unescape_value().ok().map(Cow::into_owned);
        }
    }
    None
}

/// 1-based line and column (in characters) of byte offset `at` (clamped to the input).
pub(crate) fn line_col(xml: &[u8], at: usize) -> (usize, usize) {
    let at = at.min(xml.len());
    let before = &xml[..at];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    // Count characters, not bytes: skip UTF-8 continuation bytes.
    let column = 1 + before[line_start..]
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count();
    (line, column)
}

//! The Ocean Template Designer format (`.oet`): the template's root archetype, its slot
//! fillings (nested items with a path into their parent archetype) and the rules on each.

use quick_xml::events::BytesStart;

use crate::parser::OptError;
use crate::xml::{attribute, xsi_type, Cursor};

/// A parsed OET template.
#[derive(Debug, Clone, PartialEq)]
pub struct Oet {
    /// `<id>`: the template's uid.
    pub id: Option<String>,
    /// `<name>`: the template id of the operational template.
    pub name: String,
    /// `<description><other_details>`: the template's metadata (key, value), in order.
    pub other_details: Vec<(String, String)>,
    /// `<definition>`: the root archetype with its fillings and rules.
    pub definition: OetItem,
}

/// The root archetype of the template, or an archetype filling a slot of its parent.
#[derive(Debug, Clone, PartialEq)]
pub struct OetItem {
    /// `xsi:type`, the RM type (`COMPOSITION`, `OBSERVATION`, …).
    pub rm_type: String,
    /// `archetype_id`.
    pub archetype_id: String,
    /// `path`: where the archetype goes in its parent (empty for the root).
    pub path: String,
    /// `min`, `max`: its occurrences there.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// `name`: a name the template gives the archetype root.
    pub name: Option<String>,
    /// `hide_on_form`.
    pub hide: bool,
    /// `template_id`: the `<id>` of a template embedded here, whose rules and fillings apply to
    /// this archetype.
    pub template_id: Option<String>,
    /// The rules on nodes of this archetype, in document order.
    pub rules: Vec<Rule>,
    /// The archetypes filling slots of this one, in document order.
    pub children: Vec<OetItem>,
    /// The line of the element.
    pub line: usize,
    /// The name of the embedded template the element comes from (`None`: the template
    /// compiled).
    pub embedded_from: Option<String>,
}

/// `<Rule path=… max=… min=… name=… default=… hide_on_form=… clone=…>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rule {
    pub path: String,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub name: Option<String>,
    pub default: Option<String>,
    pub hide: bool,
    pub clone: bool,
    /// The `<constraint>` of the rule, if any.
    pub constraint: Option<ValueConstraint>,
    /// `<nameConstraint>`: the coded names kept (`includedValues`) and removed
    /// (`excludedValues`), as `terminology::code`.
    pub name_constraint: Option<(Vec<String>, Vec<String>)>,
    /// The line of the element.
    pub line: usize,
    /// The name of the embedded template the rule comes from (`None`: the template compiled).
    pub embedded_from: Option<String>,
}

/// A rule's `<constraint xsi:type=…>`: a narrowing of the node's value.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueConstraint {
    /// `textConstraint`: `includedValues` / `excludedValues`, as `terminology::code` for coded
    /// values or plain text for a list of strings.
    Text {
        included: Vec<String>,
        excluded: Vec<String>,
    },
    /// `quantityConstraint`: `includedUnits` / `excludedUnits`.
    Quantity {
        included: Vec<String>,
        excluded: Vec<String>,
    },
    /// `ordinalConstraint`: `includedValues` / `excludedValues` as `value|text`.
    Ordinal {
        included: Vec<String>,
        excluded: Vec<String>,
    },
    /// `multipleConstraint`: `includedTypes` (`Text`, `Coded_text`, `Quantity`, …).
    Types(Vec<String>),
    /// `eventConstraint`: `allowedType` (`PointInTime`, `Interval`).
    Events(Vec<String>),
    /// Any other kind, by name (kept so that the rule is not silently taken for another).
    Other(String),
}

/// Reads an OET document.
pub fn parse_oet(xml: &[u8]) -> Result<Oet, OptError> {
    let mut cur = Cursor::new(xml, 256);
    let (root, empty) = loop {
        match cur.next()? {
            quick_xml::events::Event::Start(e) => break (e, false),
            quick_xml::events::Event::Empty(e) => break (e, true),
            quick_xml::events::Event::Eof => {
                return Err(cur.invalid("not an OET template: the document has no root element"))
            }
            _ => {}
        }
    };
    if root.local_name().as_ref() != b"template" {
        return Err(cur.invalid(format!(
            "not an OET template: the root element is <{}>, expected <template>",
            String::from_utf8_lossy(root.name().as_ref())
        )));
    }
    let mut lines = Lines {
        xml,
        at: 0,
        line: 1,
    };
    let (mut id, mut name, mut definition) = (None, String::new(), None);
    let mut other_details = Vec::new();
    if !empty {
        while let Some((e, empty)) = cur.next_child()? {
            match e.local_name().as_ref() {
                b"id" => id = Some(cur.string(empty)?).filter(|s| !s.is_empty()),
                b"name" => name = cur.string(empty)?,
                b"description" if !empty => description(&mut cur, &mut other_details)?,
                b"definition" => {
                    let line = line_of(&cur, &e, empty, &mut lines);
                    definition = Some(item(&mut cur, &e, empty, line, &mut lines)?);
                }
                _ => cur.skip(empty)?,
            }
        }
    }
    let Some(definition) = definition else {
        return Err(cur.invalid("the OET template has no <definition>"));
    };
    if name.is_empty() {
        return Err(cur.invalid("the OET template has no <name>"));
    }
    Ok(Oet {
        id,
        name,
        other_details,
        definition,
    })
}

/// `<description>`: the (key, value) items of `<other_details>`.
fn description(cur: &mut Cursor<'_>, out: &mut Vec<(String, String)>) -> Result<(), OptError> {
    while let Some((e, empty)) = cur.next_child()? {
        if e.local_name().as_ref() != b"other_details" || empty {
            cur.skip(empty)?;
            continue;
        }
        while let Some((item, empty)) = cur.next_child()? {
            if item.local_name().as_ref() != b"item" || empty {
                cur.skip(empty)?;
                continue;
            }
            let (mut key, mut value) = (String::new(), String::new());
            while let Some((f, empty)) = cur.next_child()? {
                match f.local_name().as_ref() {
                    b"key" => key = cur.string(empty)?,
                    b"value" => value = cur.string(empty)?,
                    _ => cur.skip(empty)?,
                }
            }
            out.push((key, value));
        }
    }
    Ok(())
}

/// Line numbers of byte offsets read in increasing order (one pass over the text in all).
struct Lines<'a> {
    xml: &'a [u8],
    at: usize,
    line: usize,
}

impl Lines<'_> {
    fn line(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.xml.len());
        if offset < self.at {
            self.at = 0;
            self.line = 1;
        }
        self.line += self.xml[self.at..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.at = offset;
        self.line
    }
}

fn line_of(cur: &Cursor<'_>, e: &BytesStart<'_>, empty: bool, lines: &mut Lines<'_>) -> usize {
    lines.line(cur.tag_start(e, empty))
}

fn int_attr(cur: &Cursor<'_>, e: &BytesStart<'_>, name: &str) -> Result<Option<i64>, OptError> {
    match attribute(e, name.as_bytes()) {
        None => Ok(None),
        Some(v) if v == "*" || v.is_empty() => Ok(None),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(|n| Some(i64::from(n)))
            .map_err(|_| {
                cur.invalid(format!(
                    "{name}=\"{v}\" is not a count (a whole number from 0, or *)"
                ))
            }),
    }
}

fn flag(e: &BytesStart<'_>, name: &[u8]) -> bool {
    attribute(e, name).is_some_and(|v| v == "true")
}

/// An archetype element (`definition`, `Content`, `Item`, `Items`) and what it holds.
fn item(
    cur: &mut Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    line: usize,
    lines: &mut Lines<'_>,
) -> Result<OetItem, OptError> {
    let rm_type = xsi_type(e)
        .map(|t| String::from_utf8_lossy(&t).into_owned())
        .unwrap_or_default();
    let Some(archetype_id) = attribute(e, b"archetype_id").filter(|a| !a.is_empty()) else {
        return Err(cur.invalid(format!(
            "line {line}: <{}> has no archetype_id",
            String::from_utf8_lossy(e.local_name().as_ref())
        )));
    };
    let mut out = OetItem {
        rm_type,
        archetype_id,
        path: attribute(e, b"path").unwrap_or_default(),
        min: int_attr(cur, e, "min")?,
        max: int_attr(cur, e, "max")?,
        name: attribute(e, b"name").filter(|n| !n.is_empty()),
        hide: flag(e, b"hide_on_form"),
        template_id: attribute(e, b"template_id").filter(|n| !n.is_empty()),
        rules: Vec::new(),
        children: Vec::new(),
        line,
        embedded_from: None,
    };
    if !empty {
        children(cur, &mut out, lines)?;
    }
    Ok(out)
}

/// The rules and fillings inside an archetype element; `<Context>` (the composition's
/// context) holds fillings and rules with paths from the same root, so it is read in place.
fn children(
    cur: &mut Cursor<'_>,
    out: &mut OetItem,
    lines: &mut Lines<'_>,
) -> Result<(), OptError> {
    while let Some((c, empty)) = cur.next_child()? {
        let line = line_of(cur, &c, empty, lines);
        match c.local_name().as_ref() {
            b"Rule" => out.rules.push(rule(cur, &c, empty, line)?),
            b"Content" | b"Item" | b"Items" => {
                out.children.push(item(cur, &c, empty, line, lines)?)
            }
            b"Context" if !empty => children(cur, out, lines)?,
            _ => cur.skip(empty)?,
        }
    }
    Ok(())
}

fn rule(
    cur: &mut Cursor<'_>,
    e: &BytesStart<'_>,
    empty: bool,
    line: usize,
) -> Result<Rule, OptError> {
    let mut rule = Rule {
        path: attribute(e, b"path").unwrap_or_default(),
        min: int_attr(cur, e, "min")?,
        max: int_attr(cur, e, "max")?,
        name: attribute(e, b"name").filter(|n| !n.is_empty()),
        default: attribute(e, b"default").filter(|n| !n.is_empty()),
        hide: flag(e, b"hide_on_form"),
        clone: flag(e, b"clone"),
        constraint: None,
        name_constraint: None,
        line,
        embedded_from: None,
    };
    if !empty {
        while let Some((c, empty)) = cur.next_child()? {
            match c.local_name().as_ref() {
                b"constraint" => {
                    let kind = xsi_type(&c)
                        .map(|t| String::from_utf8_lossy(&t).into_owned())
                        .unwrap_or_default();
                    rule.constraint = Some(constraint(cur, &kind, empty)?);
                }
                b"eventConstraint" => {
                    rule.constraint = Some(constraint(cur, "eventConstraint", empty)?)
                }
                b"nameConstraint" => {
                    if let ValueConstraint::Text { included, excluded } =
                        constraint(cur, "textConstraint", empty)?
                    {
                        rule.name_constraint = Some((included, excluded));
                    }
                }
                _ => cur.skip(empty)?,
            }
        }
    }
    Ok(rule)
}

fn constraint(cur: &mut Cursor<'_>, kind: &str, empty: bool) -> Result<ValueConstraint, OptError> {
    let (mut included, mut excluded) = (Vec::new(), Vec::new());
    if !empty {
        while let Some((c, empty)) = cur.next_child()? {
            match c.local_name().as_ref() {
                b"includedValues" | b"includedUnits" | b"includedTypes" | b"allowedType" => {
                    included.push(cur.string(empty)?)
                }
                b"excludedValues" | b"excludedUnits" => excluded.push(cur.string(empty)?),
                _ => cur.skip(empty)?,
            }
        }
    }
    Ok(match kind {
        "textConstraint" => ValueConstraint::Text { included, excluded },
        "quantityConstraint" => ValueConstraint::Quantity { included, excluded },
        "ordinalConstraint" => ValueConstraint::Ordinal { included, excluded },
        "multipleConstraint" => ValueConstraint::Types(included),
        "eventConstraint" => ValueConstraint::Events(included),
        other => ValueConstraint::Other(other.to_owned()),
    })
}

//! AQL object paths as PostgreSQL SQL/JSON path expressions.
//!
//! The path text travels as a bind parameter and every value in it is a jsonpath variable
//! (`$v0`, `$v1`, … in the `vars` object), so neither SQL nor jsonpath text ever holds a user
//! string. Attribute names are AQL identifiers (checked) and are quoted anyway.
//!
//! Lax mode with `[*]` after every attribute: a single-valued attribute yields its object, a
//! multiple-valued one each element, so a path yields the list of values SEMANTICS.md describes.

use serde_json::{Map, Value};

use cdr_aql::ast::{
    ArchetypeRef, ComparisonOp, NodeName, Predicate, PredicateKind, PredicateOperand,
};
use cdr_aql::Spanned;

use super::error::{QueryError, Result};
use super::Inputs;

/// A jsonpath expression under construction, with its variables.
#[derive(Debug, Default, Clone)]
pub(crate) struct JsonPath {
    pub text: String,
    pub vars: Map<String, Value>,
}

impl JsonPath {
    pub fn root() -> Self {
        JsonPath {
            text: "lax $".into(),
            vars: Map::new(),
        }
    }

    fn var(&mut self, v: Value) -> String {
        let name = format!("v{}", self.vars.len());
        self.vars.insert(name.clone(), v);
        format!("${name}")
    }

    /// Appends `."attr"[*]`.
    pub fn attribute(&mut self, name: &str) -> Result<()> {
        checked(name)?;
        self.text.push_str(".\"");
        self.text.push_str(name);
        self.text.push_str("\"[*]");
        Ok(())
    }

    /// Appends `? (<predicate on @>)`.
    pub fn filter(&mut self, p: &Predicate, inputs: &Inputs) -> Result<()> {
        let cond = self.condition(p, inputs)?;
        self.text.push_str(" ? (");
        self.text.push_str(&cond);
        self.text.push(')');
        Ok(())
    }

    /// Appends `? (@."_type" == … || …)`.
    pub fn type_filter(&mut self, types: &[&str]) {
        let mut parts = Vec::with_capacity(types.len());
        for t in types {
            let v = self.var(Value::String((*t).to_owned()));
            parts.push(format!("@.\"_type\" == {v}"));
        }
        self.text.push_str(" ? (");
        self.text.push_str(&parts.join(" || "));
        self.text.push(')');
    }

    /// Appends `? (@.archetype_node_id == id [&& @.name.value == name])`.
    pub fn archetype_filter(&mut self, id: &str, name: Option<&Value>) {
        let mut cond = self.node_id(Value::String(id.to_owned()));
        if let Some(name) = name {
            let v = self.var(name.clone());
            cond = format!("{cond} && @.\"name\".\"value\" == {v}");
        }
        self.text.push_str(" ? (");
        self.text.push_str(&cond);
        self.text.push(')');
    }

    /// A jsonpath boolean condition on `@` for a predicate.
    pub fn condition(&mut self, p: &Predicate, inputs: &Inputs) -> Result<String> {
        match &p.kind {
            PredicateKind::Node(n) => {
                let mut cond = self.node_id(Value::String(n.code.value.clone()));
                if let Some(name) = &n.name {
                    cond = format!("{cond} && {}", self.name(name, inputs)?);
                }
                Ok(cond)
            }
            PredicateKind::Archetype(a) => {
                let id = match &a.archetype {
                    ArchetypeRef::Id(id) => Value::String(id.value.clone()),
                    ArchetypeRef::Parameter(p) => inputs.param(p)?.clone(),
                };
                let mut cond = self.node_id(id);
                if let Some(name) = &a.name {
                    cond = format!("{cond} && {}", self.name(name, inputs)?);
                }
                Ok(cond)
            }
            PredicateKind::Standard(s) => {
                let mut lhs = String::from("@");
                for step in &s.path.steps {
                    if step.predicate.is_some() {
                        return Err(QueryError::at(
                            step.span(),
                            "a predicate inside a predicate's path is not supported",
                        ));
                    }
                    lhs.push_str(&format!(".\"{}\"", checked(&step.attribute.name)?));
                }
                let rhs = match &s.operand {
                    PredicateOperand::Literal(l) => self.var(cdr_aql_bind::literal_json(&l.value)),
                    PredicateOperand::Parameter(p) => self.var(inputs.param(p)?.clone()),
                    PredicateOperand::Archetype(a) => self.var(Value::String(a.value.clone())),
                    PredicateOperand::Code(c) => self.var(Value::String(c.value.clone())),
                    PredicateOperand::Path(path) => {
                        let mut r = String::from("@");
                        for step in &path.steps {
                            r.push_str(&format!(".\"{}\"", checked(&step.attribute.name)?));
                        }
                        r
                    }
                };
                let op = match s.op {
                    ComparisonOp::Eq => "==",
                    ComparisonOp::Ne => "!=",
                    ComparisonOp::Gt => ">",
                    ComparisonOp::Ge => ">=",
                    ComparisonOp::Lt => "<",
                    ComparisonOp::Le => "<=",
                };
                Ok(format!("{lhs} {op} {rhs}"))
            }
            PredicateKind::Regex(r) => Err(QueryError::at(
                r.regex.span(),
                "MATCHES with a regular expression inside a path predicate is not supported",
            )),
            PredicateKind::And(terms) | PredicateKind::Or(terms) => {
                let sep = if matches!(p.kind, PredicateKind::And(_)) {
                    " && "
                } else {
                    " || "
                };
                let mut parts = Vec::with_capacity(terms.len());
                for t in terms {
                    parts.push(format!("({})", self.condition(t, inputs)?));
                }
                Ok(parts.join(sep))
            }
        }
    }

    fn node_id(&mut self, id: Value) -> String {
        let v = self.var(id);
        format!("@.\"archetype_node_id\" == {v}")
    }

    fn name(&mut self, name: &NodeName, inputs: &Inputs) -> Result<String> {
        let value = match name {
            NodeName::String(s) => Value::String(s.value.clone()),
            NodeName::Parameter(p) => inputs.param(p)?.clone(),
            NodeName::Code(c) => {
                let v = self.var(Value::String(c.value.clone()));
                return Ok(format!(
                    "@.\"name\".\"defining_code\".\"code_string\" == {v}"
                ));
            }
            NodeName::TermCode(t) => {
                let code = self.var(Value::String(t.code.clone()));
                let term = self.var(Value::String(t.terminology.clone()));
                return Ok(format!(
                    "@.\"name\".\"defining_code\".\"code_string\" == {code} && \
                     @.\"name\".\"defining_code\".\"terminology_id\".\"value\" == {term}"
                ));
            }
        };
        let v = self.var(value);
        Ok(format!("@.\"name\".\"value\" == {v}"))
    }

    /// The variables as JSON text.
    pub fn vars_text(&self) -> String {
        Value::Object(self.vars.clone()).to_string()
    }
}

fn checked(name: &str) -> Result<&str> {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        Ok(name)
    } else {
        Err(QueryError::plain(format!(
            "'{name}' is not an attribute name"
        )))
    }
}

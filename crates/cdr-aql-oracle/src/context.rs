//! The evaluation context: the data with its EHR and version objects prepared, the query's
//! parameters and bound query, and what a variable can be bound to.

use std::cell::OnceCell;

use cdr_aql_bind::BoundQuery;
use serde_json::{Map, Value};

use crate::error::OracleError;
use crate::model::{ehr_object, version_object, Dataset, VersionedObject};

/// The most binding tuples or result rows the oracle builds before giving up.
pub const MAX_ROWS: usize = 200_000;

/// What a FROM variable is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound<'c> {
    /// The EHR at this index.
    Ehr(usize),
    /// A version: indexes of EHR and version, and which of the EHR's objects.
    Version { ehr: usize, obj: Obj, ver: usize },
    /// A FOLDER of the current directory of EHR `ehr`.
    Folder { ehr: usize, node: &'c Value },
    /// A composition or EHR_STATUS, or an object inside one.
    Node(&'c Value),
}

/// One of an EHR's versioned objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Obj {
    /// The composition at this index.
    Composition(usize),
    EhrStatus,
}

/// One object (or nothing: unbound) per variable, by `VarId`.
pub(crate) type Tuple<'c> = Vec<Option<Bound<'c>>>;

/// One row: the binding tuple it comes from and the element of each row node (`None`: the
/// node had no elements, or its variable is unbound).
#[derive(Debug, Clone)]
pub(crate) struct Row<'c> {
    pub tuple: usize,
    pub elems: Vec<Option<&'c Value>>,
}

/// Everything evaluation needs besides the query.
#[derive(Debug)]
pub(crate) struct Ctx<'a, 'q> {
    pub data: &'a Dataset,
    pub params: &'a Map<String, Value>,
    pub b: &'a BoundQuery<'q>,
    /// What a bare EHR variable selects, per EHR.
    ehr_objects: Vec<Value>,
    /// What a bare VERSION variable selects, per EHR, object (its compositions, then its
    /// EHR_STATUS) and version; built when first used (it holds a copy of the document).
    version_objects: Vec<Vec<Vec<OnceCell<Value>>>>,
}

impl<'a, 'q> Ctx<'a, 'q> {
    pub fn new(data: &'a Dataset, params: &'a Map<String, Value>, b: &'a BoundQuery<'q>) -> Self {
        let ehr_objects = data.ehrs.iter().map(ehr_object).collect();
        let version_objects = data
            .ehrs
            .iter()
            .map(|e| {
                e.compositions
                    .iter()
                    .chain([&e.ehr_status])
                    .map(|vo| vo.versions.iter().map(|_| OnceCell::new()).collect())
                    .collect()
            })
            .collect();
        Ctx {
            data,
            params,
            b,
            ehr_objects,
            version_objects,
        }
    }

    /// The JSON a bound object is: what paths start from and a bare variable selects.
    pub fn object<'c>(&'c self, b: Bound<'c>) -> &'c Value {
        match b {
            Bound::Ehr(e) => &self.ehr_objects[e],
            Bound::Version { ehr, obj, ver } => {
                let slot = match obj {
                    Obj::Composition(c) => c,
                    Obj::EhrStatus => self.data.ehrs[ehr].compositions.len(),
                };
                self.version_objects[ehr][slot][ver]
                    .get_or_init(|| version_object(&self.versioned(ehr, obj).versions[ver]))
            }
            Bound::Folder { node, .. } | Bound::Node(node) => node,
        }
    }

    /// One of the objects of EHR `ehr`.
    pub fn versioned(&self, ehr: usize, obj: Obj) -> &'a VersionedObject {
        let e = &self.data.ehrs[ehr];
        match obj {
            Obj::Composition(c) => &e.compositions[c],
            Obj::EhrStatus => &e.ehr_status,
        }
    }

    /// The value given for `$name` (the binder checked that there is one).
    pub fn param(&self, name: &str) -> Result<&'a Value, OracleError> {
        self.params
            .get(name)
            .ok_or_else(|| OracleError::Bind(format!("parameter ${name} has no value")))
    }
}

/// Fails when more than [`MAX_ROWS`] would be built.
pub(crate) fn check_size(n: usize) -> Result<(), OracleError> {
    if n > MAX_ROWS {
        Err(OracleError::TooLarge(MAX_ROWS))
    } else {
        Ok(())
    }
}

/// AND over fallible conditions, stopping at the first false or error.
pub(crate) fn all<T>(
    items: &[T],
    f: impl FnMut(&T) -> Result<bool, OracleError>,
) -> Result<bool, OracleError> {
    items
        .iter()
        .map(f)
        .find(|r| !matches!(r, Ok(true)))
        .unwrap_or(Ok(true))
}

/// OR over fallible conditions, stopping at the first true or error.
pub(crate) fn any<T>(
    items: &[T],
    f: impl FnMut(&T) -> Result<bool, OracleError>,
) -> Result<bool, OracleError> {
    items
        .iter()
        .map(f)
        .find(|r| !matches!(r, Ok(false)))
        .unwrap_or(Ok(false))
}

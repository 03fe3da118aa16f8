//! The evaluation context: the data with its EHR and version objects prepared, the query's
//! parameters and bound query, and what a variable can be bound to.

use std::cell::OnceCell;

use cdr_aql_bind::BoundQuery;
use serde_json::{Map, Value};

use crate::error::OracleError;
use crate::model::{ehr_object, version_object, Dataset};

/// The most binding tuples or result rows the oracle builds before giving up.
pub const MAX_ROWS: usize = 200_000;

/// What a FROM variable is bound to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Bound<'c> {
    /// The EHR at this index.
    Ehr(usize),
    /// A composition version: indexes of EHR, composition and version.
    Version { ehr: usize, comp: usize, ver: usize },
    /// An object inside a composition (or the composition itself).
    Node(&'c Value),
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
    /// What a bare VERSION variable selects, per EHR, composition and version; built when
    /// first used (it holds a copy of the composition).
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
                    .map(|vc| vc.versions.iter().map(|_| OnceCell::new()).collect())
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
            Bound::Version { ehr, comp, ver } => {
                self.version_objects[ehr][comp][ver].get_or_init(|| {
                    version_object(&self.data.ehrs[ehr].compositions[comp].versions[ver])
                })
            }
            Bound::Node(v) => v,
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

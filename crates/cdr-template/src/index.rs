//! The path index of a template: AQL-style paths → routes to constraint nodes.
//!
//! The root's path is `/`. A child object under attribute `attr` of a node at path `P` has path
//! `P/attr[id]`, where `id` is the archetype id for an archetype root and the at-code for any
//! other object with a node id; objects without a node id (primitives, domain types, most data
//! values) get `P/attr`. Several objects can share a path; each keeps its own route.

use std::collections::HashMap;

use crate::model::{CObject, NodeRoute, Template};
use crate::parser::OptError;

/// Indexes every object of the tree rooted at `root`. Iterative, so tree depth is no concern;
/// routes sharing a path are listed in document order.
pub(crate) fn build_path_index(
    root: &CObject,
) -> Result<HashMap<String, Vec<NodeRoute>>, OptError> {
    let mut index: HashMap<String, Vec<NodeRoute>> = HashMap::new();
    let mut stack: Vec<(&CObject, String, NodeRoute)> = vec![(root, "/".to_owned(), Vec::new())];
    while let Some((obj, path, route)) = stack.pop() {
        let base: &str = if path == "/" { "" } else { &path };
        // Push in reverse so that children are visited (and indexed) in document order.
        for (ai, attr) in obj.attributes().iter().enumerate().rev() {
            let ai = index_u32(ai)?;
            for (ci, child) in attr.children.iter().enumerate().rev() {
                let id = child.instance_node_id();
                let mut p =
                    String::with_capacity(base.len() + attr.rm_attribute_name.len() + id.len() + 3);
                p.push_str(base);
                p.push('/');
                p.push_str(&attr.rm_attribute_name);
                if !id.is_empty() {
                    p.push('[');
                    p.push_str(id);
                    p.push(']');
                }
                let mut r = Vec::with_capacity(route.len() + 1);
                r.extend_from_slice(&route);
                r.push((ai, index_u32(ci)?));
                stack.push((child, p, r));
            }
        }
        index.entry(path).or_default().push(route);
    }
    Ok(index)
}

fn index_u32(i: usize) -> Result<u32, OptError> {
    u32::try_from(i)
        .map_err(|_| OptError::Limit("more than 2^32 constraints under one node".into()))
}

impl Template {
    /// The constraint node a route leads to, if the route is valid for this template.
    pub fn node(&self, route: &NodeRoute) -> Option<&CObject> {
        let mut obj = &self.definition;
        for &(ai, ci) in route {
            let attr = obj.attributes().get(usize::try_from(ai).ok()?)?;
            obj = attr.children.get(usize::try_from(ci).ok()?)?;
        }
        Some(obj)
    }

    /// All constraint nodes at an AQL-style path (empty when the path is unknown).
    pub fn nodes_at(&self, path: &str) -> Vec<&CObject> {
        match self.path_index.get(path) {
            Some(routes) => routes.iter().filter_map(|r| self.node(r)).collect(),
            None => Vec::new(),
        }
    }
}

//! The walk from the constraint tree to web template nodes.

use std::collections::{BTreeMap, HashMap};

use super::id::{make_unique, node_id_from_name};
use super::inputs::{self, InputContext};
use super::rm::{self, RmAttribute};
use super::{SlotRule, Step, TermBinding, WebTemplate, WebTemplateNode, WEB_TEMPLATE_VERSION};
use cdr_template::{
    ArchetypeRoot, ArchetypeSlot, CAttribute, CObject, CObjectKind, DefaultValue, Template,
};

pub(super) fn build(t: &Template) -> WebTemplate {
    let b = Builder::new(t);
    let mut tree = b.root();
    separate_slots(&mut tree);
    finish_ids(&mut tree);
    set_depends_on(&mut tree);
    let mut languages = t.languages.clone();
    if !languages.contains(&t.language) {
        languages.insert(0, t.language.clone());
    }
    WebTemplate {
        template_id: t.template_id.clone(),
        version: WEB_TEMPLATE_VERSION.to_owned(),
        default_language: t.language.clone(),
        languages,
        tree,
    }
}

/// Moves the unfilled slots (hoisted with the other children) out of `children` into `slots`.
fn separate_slots(node: &mut WebTemplateNode) {
    let (slots, children) = std::mem::take(&mut node.children)
        .into_iter()
        .partition(|c| c.slot.is_some());
    node.children = children;
    node.slots = slots;
    for c in &mut node.children {
        separate_slots(c);
    }
}

/// Makes sibling ids unique everywhere (after hoisting, so the final siblings count); a slot
/// never takes a child's id.
fn finish_ids(node: &mut WebTemplateNode) {
    let mut ids: Vec<&mut String> = node
        .children
        .iter_mut()
        .chain(node.slots.iter_mut())
        .map(|c| &mut c.id)
        .collect();
    make_unique(&mut ids);
    for c in &mut node.children {
        finish_ids(c);
    }
}

/// An AQL path under construction.
#[derive(Debug, Clone, Default)]
struct Path(Vec<Segment>);

#[derive(Debug, Clone)]
struct Segment {
    attribute: String,
    node_id: Option<String>,
    name: Option<String>,
}

impl Path {
    fn child(&self, attribute: &str) -> Path {
        let mut p = self.clone();
        p.0.push(Segment {
            attribute: attribute.to_owned(),
            node_id: None,
            name: None,
        });
        p
    }

    /// This path with a node predicate on its last segment.
    fn with_node(&self, node_id: &str, name: Option<&str>) -> Path {
        let mut p = self.clone();
        if let Some(last) = p.0.last_mut() {
            last.node_id = Some(node_id.to_owned());
            last.name = name.map(str::to_owned);
        }
        p
    }

    fn render(&self, with_names: bool) -> String {
        let mut s = String::new();
        for seg in &self.0 {
            s.push('/');
            s.push_str(&seg.attribute);
            if let Some(id) = &seg.node_id {
                s.push('[');
                s.push_str(id);
                if let (true, Some(name)) = (with_names, &seg.name) {
                    s.push_str(",'");
                    s.push_str(&name.replace('\'', "\\'"));
                    s.push('\'');
                }
                s.push(']');
            }
        }
        s
    }
}

/// The enclosing archetype root: local terms and bindings resolve against it.
#[derive(Clone, Copy)]
struct Scope<'t> {
    root: &'t ArchetypeRoot,
}

/// The attribute an object hangs from.
#[derive(Clone, Copy)]
struct Holder<'a> {
    name: &'a str,
    multiple: bool,
    /// The RM type of the object owning the attribute.
    owner: &'a str,
}

struct Builder<'t> {
    t: &'t Template,
    lang: &'t str,
    /// Template annotations by AQL path (root archetype id removed).
    annotations: HashMap<String, &'t [(String, String)]>,
    /// Template default values by `path/attribute`, with and without name predicates.
    defaults: HashMap<String, &'t DefaultValue>,
}

impl<'t> Builder<'t> {
    fn new(t: &'t Template) -> Self {
        let annotations = t
            .annotations
            .iter()
            .map(|(path, items)| (normalise_path(path), items.as_slice()))
            .collect();
        let mut defaults = HashMap::new();
        for d in &t.default_values {
            defaults.insert(format!("{}/{}", d.path, d.attribute), d);
            defaults
                .entry(format!("{}/{}", strip_names(&d.path), d.attribute))
                .or_insert(d);
        }
        Builder {
            t,
            lang: &t.language,
            annotations,
            defaults,
        }
    }

    fn root(&self) -> WebTemplateNode {
        let root = &self.t.definition;
        let holder = Holder {
            name: "",
            multiple: false,
            owner: "",
        };
        let scope = root.as_archetype_root().map(|r| Scope { root: r });
        let mut nodes = match scope {
            Some(scope) => self.locatable(root, &Path::default(), holder, scope, None, true),
            None => Vec::new(),
        };
        let mut tree = if nodes.is_empty() {
            self.plain_node(root, "", &Path::default())
        } else {
            nodes.swap_remove(0)
        };
        tree.aql_path = String::new();
        tree
    }

    /// The nodes for one constrained object held by `holder` of the object at `parent`.
    fn object(
        &self,
        obj: &'t CObject,
        parent: &Path,
        holder: Holder<'_>,
        scope: Scope<'t>,
        path_name: Option<&str>,
    ) -> Vec<WebTemplateNode> {
        let at = parent.child(holder.name);
        match &obj.kind {
            CObjectKind::ArchetypeRoot(r) => {
                self.locatable(obj, &at, holder, Scope { root: r }, path_name, true)
            }
            CObjectKind::Complex { .. } if rm::is_locatable(&obj.rm_type_name) => {
                if obj.node_id.is_empty() {
                    vec![self.plain_object(obj, holder, &at, scope)]
                } else {
                    self.locatable(obj, &at, holder, scope, path_name, false)
                }
            }
            CObjectKind::Complex { .. }
            | CObjectKind::CodePhrase(_)
            | CObjectKind::DvQuantity(_)
            | CObjectKind::DvOrdinal(_) => vec![self.plain_object(obj, holder, &at, scope)],
            CObjectKind::Slot(slot) => vec![self.slot(obj, slot, &at, holder, scope)],
            CObjectKind::InternalRef { .. }
            | CObjectKind::ConstraintRef { .. }
            | CObjectKind::Primitive(_)
            | CObjectKind::DvState => Vec::new(),
        }
    }

    /// A LOCATABLE with a node id: one node per name the template allows (usually one).
    fn locatable(
        &self,
        obj: &'t CObject,
        at: &Path,
        holder: Holder<'_>,
        scope: Scope<'t>,
        path_name: Option<&str>,
        archetype_root: bool,
    ) -> Vec<WebTemplateNode> {
        let fixed = fixed_names(obj, scope);
        let term = scope.root.terms.get(&obj.node_id);
        let default_name = term.map_or_else(|| obj.node_id.clone(), |t| t.text.clone());
        let variants: Vec<Option<FixedName>> = if fixed.is_empty() {
            vec![None]
        } else {
            fixed.into_iter().map(Some).collect()
        };
        let instance_id = obj.instance_node_id();
        variants
            .into_iter()
            .map(|fixed| {
                let name = fixed
                    .as_ref()
                    .map_or_else(|| default_name.clone(), |f| f.label.clone());
                let fixed_label = fixed.as_ref().map(|f| f.label.as_str());
                let path = at.with_node(instance_id, fixed_label.or(path_name));
                let mut node = WebTemplateNode {
                    name: name.clone(),
                    localized_name: name.clone(),
                    node_id: Some(instance_id.to_owned()),
                    min: obj.occurrences.min_count(),
                    max: obj.occurrences.max_count().unwrap_or(-1),
                    localized_names: BTreeMap::from([(self.lang.to_owned(), name.clone())]),
                    term_bindings: self.term_bindings(scope, &obj.node_id),
                    steps: vec![Step {
                        node_id: Some(instance_id.to_owned()),
                        name: Some(name.clone()),
                        name_fixed: fixed.is_some(),
                        name_code: fixed.as_ref().and_then(|f| f.code.clone()),
                        archetype_root,
                        ..Step::plain(holder.name, &obj.rm_type_name, holder.multiple)
                    }],
                    ..blank(
                        node_id_from_name(&name),
                        &obj.rm_type_name,
                        path.render(true),
                    )
                };
                let described = fixed
                    .as_ref()
                    .and_then(|f| f.code.as_ref())
                    .and_then(|(_, c)| scope.root.terms.get(c))
                    .or(term);
                if let Some(t) = described {
                    node.localized_descriptions
                        .insert(self.lang.to_owned(), t.description.clone());
                }
                if let Some(t) = term {
                    for (k, v) in &t.other {
                        node.annotations.insert(k.clone(), v.clone());
                    }
                }
                let annotated = self
                    .annotations
                    .get(&path.render(true))
                    .or_else(|| self.annotations.get(&path.render(false)));
                if let Some(items) = annotated {
                    for (k, v) in items.iter() {
                        node.annotations.insert(k.clone(), v.clone());
                    }
                }
                if obj.base_rm_type() == "ELEMENT" {
                    self.element(obj, &mut node, &path, scope);
                } else {
                    node.children = self.children(obj, &path, scope);
                }
                node
            })
            .collect()
    }

    /// An unfilled slot: named after its node's term, matched by the archetypes it admits.
    fn slot(
        &self,
        obj: &'t CObject,
        slot: &ArchetypeSlot,
        at: &Path,
        holder: Holder<'_>,
        scope: Scope<'t>,
    ) -> WebTemplateNode {
        let name = scope
            .root
            .terms
            .get(&obj.node_id)
            .map_or_else(|| obj.node_id.clone(), |t| t.text.clone());
        WebTemplateNode {
            name: name.clone(),
            localized_name: name.clone(),
            node_id: Some(obj.node_id.clone()),
            min: obj.occurrences.min_count(),
            max: obj.occurrences.max_count().unwrap_or(-1),
            steps: vec![Step {
                node_id: Some(obj.node_id.clone()),
                name: Some(name.clone()),
                archetype_root: true,
                ..Step::plain(holder.name, &obj.rm_type_name, holder.multiple)
            }],
            slot: Some(SlotRule {
                includes: slot.includes.clone(),
                excludes: slot.excludes.clone(),
            }),
            ..blank(
                node_id_from_name(&name),
                &obj.rm_type_name,
                at.with_node(&obj.node_id, None).render(true),
            )
        }
    }

    /// A constrained object that is not a named LOCATABLE: an RM attribute's value (context,
    /// category, ism_transition, an interval bound, …), named after the attribute.
    fn plain_object(
        &self,
        obj: &'t CObject,
        holder: Holder<'_>,
        at: &Path,
        scope: Scope<'t>,
    ) -> WebTemplateNode {
        let mut node = self.plain_node(obj, holder.name, at);
        // Objects the template constrains under an RM attribute carry no name of their own.
        node.name = String::new();
        node.steps = vec![Step::plain(holder.name, &obj.rm_type_name, holder.multiple)];
        if is_data_value(&obj.rm_type_name) || matches!(obj.kind, CObjectKind::CodePhrase(_)) {
            let cx = self.input_context(scope, &node.aql_path);
            let (inputs, proportion_types) =
                inputs::for_value(&obj.rm_type_name, Some(obj), holder.name, holder.owner, &cx);
            node.inputs = inputs;
            node.proportion_types = proportion_types;
            node.children = self.interval_bounds(obj, &node.rm_type, at, scope);
        } else if is_party(&obj.rm_type_name) {
            node.inputs = inputs::party();
        } else {
            node.children = self.children(obj, at, scope);
        }
        node
    }

    /// A node named after an attribute, without inputs or children yet.
    fn plain_node(&self, obj: &CObject, attribute: &str, at: &Path) -> WebTemplateNode {
        let name = if attribute.is_empty() {
            obj.rm_type_name.clone()
        } else {
            attribute.to_owned()
        };
        WebTemplateNode {
            name: capitalise(&name),
            min: obj.occurrences.min_count(),
            max: obj.occurrences.max_count().unwrap_or(-1),
            ..blank(node_id_from_name(&name), &obj.rm_type_name, at.render(true))
        }
    }

    /// The children of an object: leading RM attributes, the template's attributes, trailing
    /// RM attributes; structural levels hoisted.
    fn children(&self, obj: &'t CObject, path: &Path, scope: Scope<'t>) -> Vec<WebTemplateNode> {
        let layout = rm::layout(&obj.rm_type_name);
        let mut out = Vec::new();
        for a in layout.leading {
            out.extend(self.layout_attribute(obj, a, path, scope));
        }
        for attr in obj.attributes() {
            if layout.find(&attr.rm_attribute_name).is_some() {
                continue;
            }
            out.extend(self.attribute(obj, attr, path, scope));
        }
        for a in layout.trailing {
            out.extend(self.layout_attribute(obj, a, path, scope));
        }
        out
    }

    /// The nodes of one template attribute of `owner`.
    fn attribute(
        &self,
        owner: &'t CObject,
        attr: &'t CAttribute,
        path: &Path,
        scope: Scope<'t>,
    ) -> Vec<WebTemplateNode> {
        let name = attr.rm_attribute_name.as_str();
        if rm::is_hidden_attribute(name) {
            return Vec::new();
        }
        let holder = Holder {
            name,
            multiple: attr.is_multiple(),
            owner: &owner.rm_type_name,
        };
        let path_names = sibling_path_names(attr, scope);
        let mut nodes = Vec::new();
        for (child, path_name) in attr.children.iter().zip(&path_names) {
            nodes.extend(self.object(child, path, holder, scope, path_name.as_deref()));
        }
        let events = nodes
            .iter()
            .filter(|n| n.slot.is_none() && rm::is_event(&n.rm_type))
            .count();
        let mut out = Vec::with_capacity(nodes.len());
        for n in nodes {
            if n.slot.is_some() {
                out.push(n);
            } else if rm::is_structure(&n.rm_type)
                || (rm::is_event(&n.rm_type) && events == 1 && n.max == 1)
            {
                out.extend(hoist(n));
            } else if n.node_id.is_none() && n.min == 0 {
                // An optional RM attribute the template constrains but web templates leave out
                // (provider, null_flavour, …).
            } else {
                out.push(n);
            }
        }
        out
    }

    /// One RM attribute of a layout: the template's constraint when there is one, else the
    /// default node.
    fn layout_attribute(
        &self,
        owner: &'t CObject,
        a: &RmAttribute,
        path: &Path,
        scope: Scope<'t>,
    ) -> Vec<WebTemplateNode> {
        let constrained = owner
            .attribute(a.name)
            .filter(|attr| !attr.children.is_empty());
        let primitive = constrained.and_then(|attr| {
            attr.children
                .iter()
                .find(|c| matches!(c.kind, CObjectKind::Primitive(_)))
        });
        let mut nodes = match constrained {
            Some(_) if primitive.is_some() => {
                let mut node = self.default_attribute(&owner.rm_type_name, a, path);
                let cx = InputContext::empty(self.lang);
                node.inputs =
                    inputs::for_value(a.rm_type, primitive, a.name, &owner.rm_type_name, &cx).0;
                vec![node]
            }
            Some(attr) if a.name == "ism_transition" => {
                self.ism_transitions(owner, attr, path, scope)
            }
            Some(attr) => {
                let holder = Holder {
                    name: a.name,
                    multiple: attr.is_multiple(),
                    owner: &owner.rm_type_name,
                };
                attr.children
                    .iter()
                    .flat_map(|c| self.object(c, path, holder, scope, None))
                    .collect()
            }
            None => vec![self.default_attribute(&owner.rm_type_name, a, path)],
        };
        for n in &mut nodes {
            n.in_context = a.in_context;
        }
        nodes
    }

    /// The node of an RM attribute the template does not constrain.
    fn default_attribute(&self, owner: &str, a: &RmAttribute, path: &Path) -> WebTemplateNode {
        let at = path.child(a.name);
        let mut node = WebTemplateNode {
            name: capitalise(a.name),
            min: a.min,
            max: a.max,
            in_context: a.in_context,
            steps: vec![Step::plain(a.name, a.rm_type, false)],
            ..blank(a.name.to_owned(), a.rm_type, at.render(true))
        };
        if is_data_value(a.rm_type) || a.rm_type == "STRING" {
            let cx = InputContext::empty(self.lang);
            let (inputs, proportion_types) = inputs::for_value(a.rm_type, None, a.name, owner, &cx);
            node.inputs = inputs;
            node.proportion_types = proportion_types;
        } else if is_party(a.rm_type) {
            node.inputs = inputs::party();
        } else {
            let layout = rm::layout(a.rm_type);
            for child in layout.leading.iter().chain(layout.trailing) {
                node.children
                    .push(self.default_attribute(a.rm_type, child, &at));
            }
        }
        node
    }

    /// `ACTION.ism_transition`: the template's ISM_TRANSITION alternatives (one per careflow
    /// step) merged into one node whose `careflow_step` lists every step with the states it
    /// may be in, and whose `current_state` lists every state.
    fn ism_transitions(
        &self,
        owner: &'t CObject,
        attr: &'t CAttribute,
        path: &Path,
        scope: Scope<'t>,
    ) -> Vec<WebTemplateNode> {
        let holder = Holder {
            name: "ism_transition",
            multiple: false,
            owner: &owner.rm_type_name,
        };
        let alternatives: Vec<WebTemplateNode> = attr
            .children
            .iter()
            .filter(|c| c.base_rm_type() == "ISM_TRANSITION")
            .map(|c| self.plain_object(c, holder, &path.child("ism_transition"), scope))
            .collect();
        let Some(first) = alternatives.first() else {
            return Vec::new();
        };
        let mut merged = first.clone();
        merged.id = "ism_transition".to_owned();
        merged.name = capitalise("ism_transition");
        let mut states = Vec::new();
        let mut steps = Vec::new();
        for alt in &alternatives {
            let alt_states: Vec<_> = alt
                .child("current_state")
                .and_then(|n| n.input(Some("code")))
                .map(|i| i.list.clone())
                .unwrap_or_default();
            if let Some(step) = alt
                .child("careflow_step")
                .and_then(|n| n.input(Some("code")))
                .and_then(|i| i.list.first())
            {
                let mut step = step.clone();
                step.current_states = alt_states.iter().map(|v| v.value.clone()).collect();
                steps.push(step);
            }
            states.extend(alt_states);
        }
        let states = hash_set_order_values(states);
        for child in &mut merged.children {
            child.name = capitalise(&child.id);
            match child.id.as_str() {
                "current_state" => {
                    if let Some(i) = child
                        .inputs
                        .iter_mut()
                        .find(|i| i.suffix.as_deref() == Some("code"))
                    {
                        i.list = states.clone();
                    }
                }
                "careflow_step" if !steps.is_empty() => {
                    // Each alternative fixes its step; the merged node does not.
                    child.min = 0;
                    if let Some(i) = child
                        .inputs
                        .iter_mut()
                        .find(|i| i.suffix.as_deref() == Some("code"))
                    {
                        i.list = steps.clone();
                        i.kind = "CODED_TEXT".to_owned();
                    }
                }
                _ => {}
            }
        }
        vec![merged]
    }

    /// An ELEMENT: merged with its value when the value has one type, else a choice.
    fn element(&self, obj: &'t CObject, node: &mut WebTemplateNode, path: &Path, scope: Scope<'t>) {
        let value_path = path.child("value");
        let alternatives: Vec<&'t CObject> = obj
            .attribute("value")
            .map(|a| {
                a.children
                    .iter()
                    .filter(|c| is_data_value(&c.rm_type_name))
                    .collect()
            })
            .unwrap_or_default();
        let types: Vec<&str> = alternatives.iter().map(|c| c.base_rm_type()).collect();
        let holder = Holder {
            name: "value",
            multiple: false,
            owner: "ELEMENT",
        };
        if alternatives.len() == 1
            || (alternatives.len() == 2
                && types.contains(&"DV_TEXT")
                && types.contains(&"DV_CODED_TEXT"))
        {
            let coded = alternatives
                .iter()
                .find(|c| c.base_rm_type() == "DV_CODED_TEXT")
                .unwrap_or(&alternatives[0]);
            let mut value = self.plain_object(coded, holder, &value_path, scope);
            if alternatives.len() == 2 {
                inputs::open_coded_text(&mut value.inputs);
            }
            let mut steps = std::mem::take(&mut node.steps);
            steps.extend(value.steps);
            *node = WebTemplateNode {
                rm_type: value.rm_type,
                aql_path: value.aql_path,
                inputs: value.inputs,
                proportion_types: value.proportion_types,
                children: value.children,
                steps,
                ..std::mem::replace(node, blank(String::new(), "", String::new()))
            };
            return;
        }
        let mut children = Vec::new();
        if alternatives.is_empty() {
            for t in rm::ANY_VALUE_TYPES {
                let mut c = self.default_attribute(
                    "ELEMENT",
                    &RmAttribute {
                        name: "value",
                        rm_type: t,
                        min: 0,
                        max: 1,
                        in_context: true,
                    },
                    path,
                );
                c.id = rm::choice_id(t);
                c.name = node.name.clone();
                c.localized_name = node.name.clone();
                c.localized_names = node.localized_names.clone();
                c.localized_descriptions = node.localized_descriptions.clone();
                children.push(c);
            }
        } else {
            for alt in alternatives {
                let mut c = self.plain_object(alt, holder, &value_path, scope);
                c.id = rm::choice_id(&alt.rm_type_name);
                c.name = String::new();
                c.localized_name = node.name.clone();
                c.localized_names = node.localized_names.clone();
                c.localized_descriptions = node.localized_descriptions.clone();
                c.min = 0;
                c.max = 1;
                children.push(c);
            }
        }
        node.children = children;
    }

    /// `lower`/`upper` of a DV_INTERVAL (constrained or not).
    fn interval_bounds(
        &self,
        obj: &'t CObject,
        rm_type: &str,
        at: &Path,
        scope: Scope<'t>,
    ) -> Vec<WebTemplateNode> {
        let Some(inner) = rm_type
            .trim()
            .strip_prefix("DV_INTERVAL<")
            .and_then(|r| r.strip_suffix('>'))
        else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for bound in ["upper", "lower"] {
            let holder = Holder {
                name: bound,
                multiple: false,
                owner: rm_type,
            };
            let constrained = obj.attribute(bound).and_then(|a| a.children.first());
            let mut node = match constrained {
                Some(c) => self.plain_object(c, holder, &at.child(bound), scope),
                None => self.default_attribute(
                    rm_type,
                    &RmAttribute {
                        name: bound,
                        rm_type: "",
                        min: 1,
                        max: 1,
                        in_context: false,
                    },
                    at,
                ),
            };
            if constrained.is_none() {
                node.rm_type = inner.trim().to_owned();
                node.steps[0].rm_type = node.rm_type.clone();
                let cx = InputContext::empty(self.lang);
                node.inputs = inputs::for_value(&node.rm_type, None, bound, rm_type, &cx).0;
            }
            node.min = 1;
            node.max = 1;
            out.push(node);
        }
        out
    }

    fn term_bindings(&self, scope: Scope<'t>, code: &str) -> BTreeMap<String, TermBinding> {
        let mut out = BTreeMap::new();
        for (terminology, codes) in &scope.root.term_bindings {
            if let Some(value) = codes.get(code) {
                out.insert(
                    terminology.clone(),
                    TermBinding {
                        value: value.clone(),
                        terminology_id: terminology.clone(),
                    },
                );
            }
        }
        out
    }

    fn input_context(&self, scope: Scope<'t>, aql_path: &str) -> InputContext<'t> {
        let default = self
            .defaults
            .get(aql_path)
            .or_else(|| self.defaults.get(&strip_names(aql_path)))
            .copied();
        InputContext {
            lang: self.lang,
            terms: Some(&scope.root.terms),
            default,
        }
    }
}

/// Distinct values in the order published web templates list merged code sets: that of a
/// Java `HashSet` of the codes (see [`hash_set_order`]).
fn hash_set_order_values(values: Vec<super::InputValue>) -> Vec<super::InputValue> {
    let mut distinct: Vec<super::InputValue> = Vec::new();
    for v in values {
        if !distinct.iter().any(|d| d.value == v.value) {
            distinct.push(v);
        }
    }
    let order = hash_set_order(distinct.iter().map(|v| v.value.clone()).collect());
    order
        .iter()
        .filter_map(|k| distinct.iter().find(|v| &v.value == k).cloned())
        .collect()
}

/// Distinct strings in the iteration order of a Java `HashSet` holding them (bucket of the
/// spread `String.hashCode`, then insertion order): the order published web templates use for
/// sets (merged states, `dependsOn`, unconstrained proportion kinds).
pub(super) fn hash_set_order(values: Vec<String>) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::new();
    for v in values {
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    let mut capacity = 16usize;
    while distinct.len() * 4 > capacity * 3 {
        capacity *= 2;
    }
    let bucket = |s: &str| {
        let h = s
            .encode_utf16()
            .fold(0u32, |h, c| h.wrapping_mul(31).wrapping_add(u32::from(c)));
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut keyed: Vec<(usize, usize, String)> = distinct
        .into_iter()
        .enumerate()
        .map(|(i, v)| (bucket(&v), i, v))
        .collect();
    keyed.sort_by_key(|(b, i, _)| (*b, *i));
    keyed.into_iter().map(|(_, _, v)| v).collect()
}

/// `dependsOn`: in an observation, evaluation, admin entry or event, what its `protocol` and
/// `state` describe depends on its `data` (an instruction's on its `activities`).
fn set_depends_on(node: &mut WebTemplateNode) {
    let main = match cdr_rm::meta::base_type_name(&node.rm_type) {
        "OBSERVATION" | "EVALUATION" | "ADMIN_ENTRY" | "GENERIC_ENTRY" | "EVENT"
        | "POINT_EVENT" | "INTERVAL_EVENT" => "data",
        "INSTRUCTION" => "activities",
        _ => "",
    };
    if !main.is_empty() {
        // The attribute a child hangs from, below a left-out event when there is one.
        let role = |c: &WebTemplateNode| -> String {
            let after_event = c
                .steps
                .iter()
                .position(|s| rm::is_event(&s.rm_type))
                .filter(|_| !rm::is_event(&node.rm_type))
                .and_then(|i| c.steps.get(i + 1));
            after_event
                .or(c.steps.first())
                .map(|s| s.attribute.clone())
                .unwrap_or_default()
        };
        let data: Vec<String> = node
            .children
            .iter()
            .filter(|c| role(c) == main && c.node_id.is_some())
            .map(|c| c.id.clone())
            .collect();
        if !data.is_empty() {
            let deps = hash_set_order(data);
            let roles: Vec<String> = node.children.iter().map(&role).collect();
            for (c, r) in node.children.iter_mut().zip(roles) {
                if r == "protocol" || r == "state" {
                    c.depends_on = deps.clone();
                }
            }
        }
    }
    for c in &mut node.children {
        set_depends_on(c);
    }
}

/// A node's children, with this node's steps put in front of theirs (the node is a level the
/// web template leaves out).
fn hoist(node: WebTemplateNode) -> Vec<WebTemplateNode> {
    let prefix = node.steps;
    node.children
        .into_iter()
        .map(|mut c| {
            let mut steps = prefix.clone();
            steps.append(&mut c.steps);
            c.steps = steps;
            c
        })
        .collect()
}

/// A node with no name, occurrences 0..0 and nothing else set.
fn blank(id: String, rm_type: &str, aql_path: String) -> WebTemplateNode {
    WebTemplateNode {
        id,
        name: String::new(),
        localized_name: String::new(),
        rm_type: rm_type.to_owned(),
        node_id: None,
        min: 0,
        max: 0,
        depends_on: Vec::new(),
        localized_names: BTreeMap::new(),
        localized_descriptions: BTreeMap::new(),
        annotations: BTreeMap::new(),
        aql_path,
        proportion_types: Vec::new(),
        inputs: Vec::new(),
        in_context: false,
        term_bindings: BTreeMap::new(),
        children: Vec::new(),
        steps: Vec::new(),
        slots: Vec::new(),
        slot: None,
    }
}

/// A name the template fixes for an object, with its code when the name is coded.
#[derive(Debug, Clone)]
struct FixedName {
    label: String,
    code: Option<(String, String)>,
}

/// The names a template fixes for an object (a `name` constraint with one child: DV_TEXT
/// with a string list, or DV_CODED_TEXT with codes whose terms are known).
fn fixed_names(obj: &CObject, scope: Scope<'_>) -> Vec<FixedName> {
    let Some(attr) = obj.attribute("name") else {
        return Vec::new();
    };
    let [child] = attr.children.as_slice() else {
        return Vec::new();
    };
    match child.base_rm_type() {
        "DV_TEXT" => child
            .attribute("value")
            .and_then(|a| a.children.first())
            .and_then(|c| match &c.kind {
                CObjectKind::Primitive(cdr_template::CPrimitive::String { list, .. }) => Some(
                    list.iter()
                        .map(|l| FixedName {
                            label: l.clone(),
                            code: None,
                        })
                        .collect(),
                ),
                _ => None,
            })
            .unwrap_or_default(),
        "DV_CODED_TEXT" => child
            .attribute("defining_code")
            .and_then(|a| a.children.first())
            .and_then(|c| match &c.kind {
                CObjectKind::CodePhrase(cp) => {
                    let terminology = cp.terminology_id.clone().unwrap_or_else(|| "local".into());
                    Some(
                        cp.code_list
                            .iter()
                            .filter_map(|code| {
                                scope.root.terms.get(code).map(|t| FixedName {
                                    label: t.text.clone(),
                                    code: Some((terminology.clone(), code.clone())),
                                })
                            })
                            .collect(),
                    )
                }
                _ => None,
            })
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// For each child of an attribute, the name to put in its path predicate when the template
/// does not fix one but a sibling with the same node id has a fixed name.
fn sibling_path_names(attr: &CAttribute, scope: Scope<'_>) -> Vec<Option<String>> {
    let fixed: Vec<bool> = attr
        .children
        .iter()
        .map(|c| !fixed_names(c, scope).is_empty())
        .collect();
    attr.children
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if fixed[i] || c.node_id.is_empty() {
                return None;
            }
            let id = c.instance_node_id();
            let clash = attr
                .children
                .iter()
                .enumerate()
                .any(|(j, o)| j != i && fixed[j] && o.instance_node_id() == id);
            if !clash {
                return None;
            }
            let scope_terms = match c.as_archetype_root() {
                Some(r) => &r.terms,
                None => &scope.root.terms,
            };
            scope_terms.get(&c.node_id).map(|t| t.text.clone())
        })
        .collect()
}

fn is_data_value(rm_type: &str) -> bool {
    rm_type.starts_with("DV_") || rm_type == "CODE_PHRASE" || rm_type == "STRING"
}

fn is_party(rm_type: &str) -> bool {
    matches!(
        rm_type,
        "PARTY_PROXY" | "PARTY_IDENTIFIED" | "PARTY_SELF" | "PARTY_RELATED"
    )
}

/// `start_time` → `Start_time`.
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `[openEHR-EHR-COMPOSITION.x.v1]/content[a, 'B']` → `/content[a,'B']`.
fn normalise_path(p: &str) -> String {
    let rest = match p.strip_prefix('[') {
        Some(r) => r.find(']').map_or("", |i| &r[i + 1..]),
        None => p,
    };
    rest.replace(", '", ",'")
}

/// A path without its name predicates: `/items[at0001,'X']` → `/items[at0001]`.
fn strip_names(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' && chars.peek() == Some(&'\'') {
            chars.next();
            // Skip the quoted name (with `\'` escapes) up to its closing quote.
            while let Some(n) = chars.next() {
                match n {
                    '\\' => {
                        chars.next();
                    }
                    '\'' => break,
                    _ => {}
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

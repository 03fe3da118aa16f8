// FLAT compositions read through their web template: fields with labels and readable values,
// the differences between two versions, and the parts an urgent summary shows first.
// No DOM here (the functions also run under node).

/** Archetypes whose entries an urgent summary shows first, in this order. */
/** (`keyHint` finds their fields by FLAT path when the template does not name the archetype;
 * `key` picks the fields a summary makes stand out, by their last FLAT path segment.) */
export const URGENT = [
  {
    archetype: 'cdr_cpr_decision', keyHint: /cpr/, key: /^cpr_decision$/,
    title: 'Resuscitation (CPR) decision',
  },
  {
    archetype: 'cdr_care_preferences', keyHint: /place_of_(care|death)|care_preferences/,
    key: /^preferred_place_of_(care|death)$/, title: 'Preferred place of care and death',
  },
  {
    archetype: 'cdr_treatment_recommendations', keyHint: /treatment_recommendations/,
    key: /^(focus_of_care|ceiling_of_treatment)$/, title: 'Emergency treatment recommendations',
  },
];

/**
 * An index of a web template: its nodes by FLAT path without instance indexes
 * (`root/section/entry/element`), and the language labels are read in.
 */
export function indexWebTemplate(wt, language) {
  const byPath = new Map();
  const order = new Map();
  const lang = language && (wt.languages || []).includes(language) ? language : wt.defaultLanguage;
  const walk = (node, path) => {
    if (!byPath.has(path)) {
      byPath.set(path, node);
      order.set(path, order.size);
    }
    for (const child of node.children || []) walk(child, `${path}/${child.id}`);
  };
  if (wt && wt.tree) walk(wt.tree, wt.tree.id);
  return { wt, lang, byPath, order, rootId: wt && wt.tree ? wt.tree.id : null };
}

/**
 * Compares two FLAT base keys in the order of the form: node by node in the web template's
 * order, instances by index; nodes the template does not have come after those it has.
 */
export function compareKeys(index, a, b) {
  const sa = segments(a);
  const sb = segments(b);
  let pa = '';
  let pb = '';
  for (let i = 0; i < Math.max(sa.length, sb.length); i += 1) {
    if (!sa[i]) return -1;
    if (!sb[i]) return 1;
    pa = i ? `${pa}/${sa[i].id}` : sa[i].id;
    pb = i ? `${pb}/${sb[i].id}` : sb[i].id;
    if (pa !== pb) {
      const oa = index.order.has(pa) ? index.order.get(pa) : Infinity;
      const ob = index.order.has(pb) ? index.order.get(pb) : Infinity;
      if (oa !== ob) return oa < ob ? -1 : 1;
      return pa < pb ? -1 : 1;
    }
    const ia = sa[i].index ?? -1;
    const ib = sb[i].index ?? -1;
    if (ia !== ib) return ia - ib;
  }
  return 0;
}

function humanize(id) {
  const s = String(id).replace(/^_+/, '').replace(/_/g, ' ').trim();
  return s ? s[0].toUpperCase() + s.slice(1) : String(id);
}

/** A node's name in the index's language. */
export function nodeName(index, node) {
  if (!node) return '';
  const name = (node.localizedNames && node.localizedNames[index.lang]) || node.localizedName
    || node.name || node.id;
  // RM attributes (`start_time`, `health_care_facility`) are named after themselves.
  return name === node.id || /^[a-z]+(_[a-z]+)+$/i.test(name) ? humanize(name) : name;
}

/** Splits a FLAT key into its base (without `|suffix`) and suffix ('' for a bare key). */
export function splitKey(key) {
  const bar = key.indexOf('|');
  return bar < 0 ? { base: key, suffix: '' } : { base: key.slice(0, bar), suffix: key.slice(bar + 1) };
}

/** A FLAT base key's segments: `[{id, index}]` (index null when the segment has none). */
export function segments(base) {
  return base.split('/').map((seg) => {
    const m = /^(.*):(\d+)$/.exec(seg);
    return m ? { id: m[1], index: Number(m[2]) } : { id: seg, index: null };
  });
}

/** The path of a base key without instance indexes. */
export function plainPath(base) {
  return segments(base).map((s) => s.id).join('/');
}

/**
 * Where a FLAT base key is: `crumbs` (the names of its nodes below the root, an instance
 * numbered from 1 when the node repeats: "Key contact 2") and the web template `node` of its
 * last segment (null when the template does not have it).
 */
export function locate(index, base) {
  const segs = segments(base);
  const crumbs = [];
  let path = '';
  let node = null;
  segs.forEach((seg, i) => {
    path = i === 0 ? seg.id : `${path}/${seg.id}`;
    node = index.byPath.get(path) || null;
    if (i === 0) return;
    const name = node ? nodeName(index, node) : humanize(seg.id);
    crumbs.push(seg.index !== null && !(seg.index === 0 && node && node.max === 1)
      ? `${name} ${seg.index + 1}` : name);
  });
  return { crumbs, node };
}

// RM attributes the server fills from the context, by FLAT id (for keys the template lacks).
const CONTEXT_IDS = new Set([
  'language', 'encoding', 'subject', 'category', 'territory', 'composer', 'start_time', 'setting',
]);

/** Whether a field is one the server fills from the context (the node says, else its id). */
function isContext(base, node) {
  if (node) return Boolean(node.inContext);
  return CONTEXT_IDS.has(segments(base).pop().id);
}

/** Whether a FLAT key is data a person entered (not the composition's uid or `ctx/…`). */
function isData(key) {
  return !key.startsWith('ctx/') && !/\/_uid$/.test(splitKey(key).base);
}

/**
 * The fields of a FLAT composition, in key order: `{base, parts}`, parts holding the values
 * by suffix ('' for a bare key), so `…/role|code` and `…/role|value` are one field.
 */
export function fields(flat) {
  const out = new Map();
  for (const [key, value] of Object.entries(flat || {})) {
    if (!isData(key)) continue;
    const { base, suffix } = splitKey(key);
    if (!out.has(base)) out.set(base, { base, parts: {} });
    out.get(base).parts[suffix] = value;
  }
  return out;
}

function listLabel(index, node, code) {
  for (const input of (node && node.inputs) || []) {
    for (const item of input.list || []) {
      if (item.value === code) {
        return (item.localizedLabels && item.localizedLabels[index.lang]) || item.label || code;
      }
    }
  }
  return code;
}

function plain(value, node) {
  if (value === true) return 'Yes';
  if (value === false) return 'No';
  if (node && node.rmType === 'DV_DATE_TIME' && typeof value === 'string') {
    const d = new Date(value);
    if (!Number.isNaN(d.getTime()) && /T/.test(value)) {
      return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
    }
  }
  return String(value);
}

/** A field's value as a person reads it ("Not for attempted CPR", "2 l/min", "Yes"). */
export function display(index, field, node) {
  const p = field.parts;
  if ('' in p) {
    const rest = Object.entries(p).filter(([k]) => k !== '');
    const main = plain(p[''], node);
    return rest.length ? `${main} (${rest.map(([k, v]) => `${k}: ${v}`).join(', ')})` : main;
  }
  if ('magnitude' in p) return [p.magnitude, p.unit].filter((x) => x !== undefined).join(' ');
  if ('numerator' in p || 'denominator' in p) return `${p.numerator ?? '?'} / ${p.denominator ?? '?'}`;
  if ('value' in p) return 'ordinal' in p ? `${p.ordinal}: ${p.value}` : String(p.value);
  if ('code' in p) return listLabel(index, node, p.code);
  if ('name' in p) return String(p.name);
  if ('id' in p) return [p.id, p.issuer, p.assigner, p.type].filter(Boolean).join(' · ');
  return Object.entries(p).map(([k, v]) => `${k}: ${v}`).join(', ');
}

/**
 * The readable rows of a FLAT composition in the form's order: `{base, label, crumbs, value,
 * node}`; without the fields the server fills from the context (language, encoding, subject,
 * composer, …) unless `withContext`.
 */
export function rows(index, flat, withContext = false) {
  const out = [];
  const bases = [...fields(flat).values()].sort((a, b) => compareKeys(index, a.base, b.base));
  for (const field of bases) {
    const { crumbs, node } = locate(index, field.base);
    if (!withContext && isContext(field.base, node)) continue;
    out.push({
      base: field.base, crumbs, label: crumbs.join(' › '), node, value: display(index, field, node),
    });
  }
  return out;
}

function sameParts(a, b) {
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k]);
}

/**
 * The field-by-field differences from FLAT `before` to FLAT `after`: `{kind: 'added' |
 * 'removed' | 'changed', base, label, before, after}` (values as people read them), in the
 * form's order; without the fields the server fills from the context unless `withContext`.
 */
export function diff(index, before, after, withContext = true) {
  const fa = fields(before);
  const fb = fields(after);
  const order = [...new Set([...fa.keys(), ...fb.keys()])]
    .sort((x, y) => compareKeys(index, x, y));
  const out = [];
  for (const base of order) {
    const a = fa.get(base);
    const b = fb.get(base);
    if (a && b && sameParts(a.parts, b.parts)) continue;
    const { crumbs, node } = locate(index, base);
    if (!withContext && isContext(base, node)) continue;
    out.push({
      kind: !a ? 'added' : !b ? 'removed' : 'changed',
      base,
      label: crumbs.join(' › '),
      before: a ? display(index, a, node) : '',
      after: b ? display(index, b, node) : '',
    });
  }
  return out;
}

/**
 * Rows grouped by the top-level node they are under: `[{title, rows}]`, rows labelled below
 * it; the composition's context (who recorded it where) comes last.
 */
export function bySection(list) {
  const sections = new Map();
  for (const row of list) {
    const title = row.crumbs.length > 1 ? row.crumbs[0] : 'Details';
    if (!sections.has(title)) sections.set(title, { title, rows: [], context: false });
    const section = sections.get(title);
    section.context = section.context || (segments(row.base)[1] || {}).id === 'context';
    section.rows.push({
      ...row, label: row.crumbs.length > 1 ? row.crumbs.slice(1).join(' › ') : row.label,
    });
  }
  const all = [...sections.values()];
  return [...all.filter((x) => !x.context), ...all.filter((x) => x.context)]
    .map(({ title, rows: rowsOf }) => ({ title, rows: rowsOf }));
}

/** The value of the plan status field (`…/plan_status`) of a FLAT composition, or null. */
export function planStatus(flat) {
  for (const [key, value] of Object.entries(flat || {})) {
    if (/\/plan_status\|value$/.test(key)) return value;
  }
  return null;
}

/**
 * An urgent summary of a FLAT composition: `urgent` (for each URGENT archetype the template or
 * the keys have, `{title, archetype, rows}`, the rows to make stand out marked `key`) and `sections` (the rest, by top-level node: `{title, rows}`,
 * rows labelled below their section).
 */
export function summary(index, flat) {
  const all = rows(index, flat);
  const urgentPaths = URGENT.map(() => []);
  for (const [path, node] of index.byPath) {
    URGENT.forEach((u, i) => {
      if (node.nodeId && node.nodeId.includes(`.${u.archetype}.`)) urgentPaths[i].push(path);
    });
  }
  const taken = new Set();
  const urgent = [];
  URGENT.forEach((u, i) => {
    const matches = (row) => {
      const path = plainPath(row.base);
      if (urgentPaths[i].length) {
        return urgentPaths[i].some((p) => path === p || path.startsWith(`${p}/`));
      }
      return u.keyHint.test(path);
    };
    const picked = all.filter((row) => !taken.has(row.base) && matches(row));
    picked.forEach((row) => taken.add(row.base));
    if (picked.length || urgentPaths[i].length) {
      urgent.push({
        title: urgentPaths[i].length ? nodeName(index, index.byPath.get(urgentPaths[i][0])) : u.title,
        archetype: u.archetype,
        rows: picked.map((row) => ({
          ...row,
          label: shortLabel(row, urgentPaths[i]),
          key: u.key.test(segments(row.base).pop().id),
        })),
      });
    }
  });
  return { urgent, sections: bySection(all.filter((row) => !taken.has(row.base))) };
}

function shortLabel(row, paths) {
  const path = plainPath(row.base);
  const p = paths.find((x) => path === x || path.startsWith(`${x}/`));
  if (!p) return row.label;
  const depth = p.split('/').length - 1;
  const rest = row.crumbs.slice(depth);
  return rest.length ? rest.join(' › ') : row.label;
}

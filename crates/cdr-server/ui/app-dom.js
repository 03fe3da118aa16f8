// DOM helpers of the clinician's app: element building, messages, dates.

let idSeq = 0;

/** A fresh element id, unique in the page. */
export function uid(prefix = 'cdr-app') {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

/**
 * Builds an element: `h('a', {href: '/ui/'}, 'Home')`. Attributes starting with `on` are
 * event listeners; `class` and `for` are the attributes of those names; `false`, `null` and
 * `undefined` values leave an attribute out. Children are nodes, strings or (nested) arrays.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A message box: kind is `info`, `ok`, `warn` or `error` (errors are announced at once). */
export function message(kind, ...content) {
  const role = kind === 'error' ? 'alert' : 'status';
  return h('div', { class: `msg msg-${kind}`, role }, ...content);
}

/**
 * A date-time as the user's locale shows it (the ISO text when it does not parse), to the
 * second when `seconds`.
 */
export function when(iso, seconds = false) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: seconds ? 'medium' : 'short' });
}

/** A `<time>` element for an ISO date-time. */
export function timeEl(iso, seconds = false) {
  return iso ? h('time', { datetime: iso }, when(iso, seconds)) : '—';
}

/** The version number of a version uid (`<uuid>::<system>::<n>`). */
export function versionNumber(versionUid) {
  const parts = String(versionUid || '').split('::');
  return parts.length >= 3 ? parts[parts.length - 1] : '';
}

/** The versioned object id (the uuid) of a version uid. */
export function objectId(versionUid) {
  return String(versionUid || '').split('::')[0];
}

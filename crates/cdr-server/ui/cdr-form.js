/*
 * <cdr-form>: a form rendered from an openEHR web template that reads and writes FLAT.
 * Plain ES module, light DOM (no shadow root): pages style it with /ui/cdr-form.css and their
 * own rules, and scripts reach every control.
 *
 *   <link rel="stylesheet" href="/ui/cdr-form.css">
 *   <script type="module" src="/ui/cdr-form.js"></script>
 *   <cdr-form template-id="cdr_urgent_care_plan.v0" ehr-id="…"></cdr-form>
 *
 * Attributes (observed; a change re-renders or reloads):
 *   template-id     the template; its web template is fetched from
 *                   GET {base-url}/definition/template/adl1.4/{id} (Accept application/openehr.wt+json)
 *   base-url        the REST API base, default /openehr/v1 (may be another origin)
 *   ehr-id          the EHR that validation and saving use
 *   composition-id  edit this composition (versioned object id, or a version uid): loaded as
 *                   FLAT, saved with PUT (…/composition/{id}?templateId=…) and If-Match of
 *                   the version loaded
 *   language        display language (default: the web template's defaultLanguage); a
 *                   select[data-action=language] switches it when the template has several
 *   readonly        show values as text, no inputs
 * Properties:
 *   webTemplate  get/set the web template (setting it renders without fetching)
 *   value        get: the FLAT object of the controls now (only keys with a value; keys a loaded
 *                composition had that no control shows are kept); set: fill the controls
 *   headers      extra request headers for every request, e.g. {Authorization: 'Bearer …'}
 *   issues       the current issues [{flat_path, message, …}]
 *   ctx          FLAT ctx values sent with every validation and save, without the `ctx/`
 *                prefix (e.g. {composer_name: 'Dr A', composer_id: '123', id_namespace: …,
 *                territory: 'GB', setting: '238'}); language defaults to the web template's,
 *                territory to the browser locale's region. A new composition's composer is
 *                ctx.composer_name, else the "Recorded by" field (input[data-flat-path=
 *                "ctx/composer_name"]), else "unknown".
 * Methods:
 *   validate()   → Promise of the issue list: the server checks the FLAT
 *                (POST {base}/ehr/{ehr}/composition?templateId=…&dry_run=true), plus the
 *                controls' own checks (required, range, pattern)
 *   submit()     → Promise: validates, then saves (POST, or PUT with If-Match when editing);
 *                resolves {status, etag, location, versionUid}; rejects with the issues, or
 *                with {conflict: true, …} on 412, or {status, message}
 * Events (CustomEvent, bubbling, composed):
 *   cdr-rendered {ms}      rendered (ms from having the web template to the DOM complete);
 *                          also sets attribute data-render-ms
 *   change {path, value}   a control changed (path: the FLAT key it writes)
 *   invalid {issues}       validation found issues to show (on submit all of them; on blur
 *                          those of fields the user has been in); they are shown at their fields
 *   submit {status, versionUid, etag, location}  saved; sets attribute data-version-uid
 *   conflict {etag, location}  the save answered 412: [data-conflict] shows what changed
 *                          meanwhile and button[data-action=reload] loads the latest version
 *   error {status, message}    any other failure
 * Hooks for scripts, tests and styles:
 *   [data-flat-path=<FLAT key>]   the control writing that key (each radio of a group carries
 *                                 its |code key and value = the code; a select its key, option
 *                                 values = codes/units). Date-time and time inputs take and give
 *                                 the whole ISO 8601 value through .value (zone included).
 *   [data-node-path=<prefix:n>]   one instance of a node that may repeat
 *   button[data-add=<prefix>]     adds an instance (disabled at max)
 *   button[data-remove=<prefix:n>] removes that instance (later ones move up)
 *   select[data-choice=<prefix>]  picks the alternative of an element with several value types
 *                                 (option values: the alternatives' node ids)
 *   [data-field=<prefix>]         a field (one data value); .cdr-issue[data-issue-for=<key>] the
 *                                 issues placed after the control of that key
 *   button[data-action=submit], select[data-action=language], [data-conflict],
 *   button[data-action=reload]
 * Keys written per data value type: DV_TEXT the bare key; DV_CODED_TEXT |code (with |value
 * and |terminology from the template's list, or typed for an external terminology); DV_ORDINAL
 * |code (|ordinal, |value, |terminology follow); DV_QUANTITY |magnitude and |unit; DV_COUNT,
 * DV_BOOLEAN, DV_DATE, DV_DATE_TIME, DV_TIME, DV_DURATION (ISO 8601, also one number per
 * allowed designator), DV_URI, DV_PARSABLE (and |formalism) the bare key; DV_IDENTIFIER the
 * bare key for the id and |issuer, |assigner, |type; DV_PROPORTION |numerator, |denominator,
 * |type; DV_MULTIMEDIA the bare key (URI) or |data (a file), |mediatype, |size,
 * |alternatetext; DV_INTERVAL its lower/upper nodes, |lower_unbounded and |upper_unbounded.
 * Context fields (inContext nodes) are not shown: the server fills them from the ctx the
 * form sends, except those only the user knows: an interval event's width and math function,
 * an action's careflow step (its current state follows). An observation's history origin
 * (`…/history_origin`) is under "Timing".
 */
import { h, newId, baseType, nameOf, descOf, makeField, say } from '/ui/cdr-form-fields.js';

const WT = 'application/openehr.wt+json';
const FLAT = 'application/openehr.wt.flat+json';
const cache = new Map();

/** Whether a node is shown: not a context field (but an interval event's width and math
 * function, which only the user knows), not computed (an event's offset), and a leaf with
 * inputs or a group showing something. */
function visible(node, memo) {
  if (memo.has(node)) return memo.get(node);
  let v = node.max !== 0 && (!node.inContext || /\/(width|math_function)$/.test(node.aqlPath || '')) && !/\/offset$/.test(node.aqlPath || '');
  if (v) {
    const kids = node.children || [];
    v = kids.length
      ? kids.some((c) => visible(c, memo))
      : (node.inputs || []).length > 0 || baseType(node.rmType).startsWith('DV_') || node.rmType === 'STRING';
  }
  memo.set(node, v);
  return v;
}

const ENTRIES = new Set(['OBSERVATION', 'EVALUATION', 'INSTRUCTION', 'ACTION', 'ADMIN_ENTRY', 'GENERIC_ENTRY']);
const isChoice = (node) => node.rmType === 'ELEMENT' && (node.children || []).length > 0;
const isInterval = (node) => baseType(node.rmType) === 'DV_INTERVAL';

const TYPE_NAMES = {
  DV_TEXT: 'Text', DV_CODED_TEXT: 'Coded text', DV_QUANTITY: 'Quantity', DV_COUNT: 'Count',
  DV_PROPORTION: 'Proportion', DV_ORDINAL: 'Ordinal', DV_SCALE: 'Scale', DV_BOOLEAN: 'Yes/no', DV_DATE: 'Date',
  DV_DATE_TIME: 'Date and time', DV_TIME: 'Time', DV_DURATION: 'Duration', DV_IDENTIFIER: 'Identifier',
  DV_URI: 'URI', DV_EHR_URI: 'EHR URI', DV_MULTIMEDIA: 'Multimedia', DV_PARSABLE: 'Parsable', DV_INTERVAL: 'Interval',
};

/** A FLAT object indexed for filling: values by key body and suffix, and every body prefix. */
function indexFlat(flat) {
  const vals = new Map();
  const prefixes = new Set();
  for (const key in flat) {
    const bar = key.indexOf('|');
    const body = bar < 0 ? key : key.slice(0, bar);
    const suffix = bar < 0 ? '' : key.slice(bar + 1);
    let o = vals.get(body);
    if (!o) vals.set(body, (o = {}));
    o[suffix] = flat[key];
    let i = body.length;
    while (i > 0 && !prefixes.has(body.slice(0, i))) {
      prefixes.add(body.slice(0, i));
      i = body.lastIndexOf('/', i - 1);
    }
  }
  return { flat, vals, prefixes };
}

const EMPTY = indexFlat({});

/** `flat` without instance `base:i` (and the later instances one index lower). */
function withoutInstance(flat, base, i) {
  const out = {};
  const head = `${base}:`;
  for (const key in flat) {
    if (key.startsWith(head)) {
      const m = /^(\d+)([/|].*)?$/.exec(key.slice(head.length));
      if (m) {
        const n = Number(m[1]);
        if (n === i) continue;
        if (n > i) {
          out[`${head}${n - 1}${m[2] || ''}`] = flat[key];
          continue;
        }
      }
    }
    out[key] = flat[key];
  }
  return out;
}

export class CdrForm extends HTMLElement {
  static get observedAttributes() {
    return ['template-id', 'base-url', 'ehr-id', 'composition-id', 'language', 'readonly'];
  }

  constructor() {
    super();
    this._wt = null;
    this._headers = {};
    this._ctx = {};
    this._issues = [];
    this._fields = [];
    this._fill = EMPTY;
    this._keep = {};
    this._touched = new Set();
    this._submitted = false;
    this._versionUid = null;
    this._loaded = null;
    this._seq = 0;
    this._vseq = 0;
    this._silent = false;
  }

  get base() {
    return (this.getAttribute('base-url') || '/openehr/v1').replace(/\/+$/, '');
  }

  get headers() {
    return this._headers;
  }

  set headers(v) {
    this._headers = v || {};
  }

  get ctx() {
    return this._ctx;
  }

  set ctx(v) {
    this._ctx = v || {};
    const who = this._root && this._root.querySelector('[data-flat-path="ctx/composer_name"]');
    if (who && this._ctx.composer_name) who.value = this._ctx.composer_name;
  }

  /** The FLAT a request sends: the controls' keys and the ctx defaults. */
  _body() {
    const region = (navigator.language || '').split('-')[1];
    const ctx = { language: this._cx.valueLang, territory: region && region.length === 2 ? region.toUpperCase() : 'GB', ...this._ctx };
    const who = this._root.querySelector('[data-flat-path="ctx/composer_name"]');
    if (!ctx.composer_name) ctx.composer_name = (who && who.value.trim()) || 'unknown';
    const out = {};
    for (const k in ctx) out[`ctx/${k}`] = ctx[k];
    const value = this.value;
    const present = indexFlat(value).prefixes;
    // RM attributes the web template leaves to the context, for the entries given.
    for (const { node, prefix } of this._entries) {
      if (!present.has(prefix)) continue;
      const has = (p) => present.has(p);
      if (node.rmType === 'INSTRUCTION' && !has(`${prefix}/narrative`)) out[`${prefix}/narrative`] = nameOf(node, this._cx.valueLang);
      if (node.rmType === 'ACTION' && !has(`${prefix}/ism_transition/current_state`)) {
        const ism = (node.children || []).find((c) => c.id === 'ism_transition');
        const state = ism && (ism.children || []).find((c) => c.id === 'current_state');
        const list = ((state && state.inputs) || []).flatMap((i) => i.list || []);
        const first = list.find((i) => i.value === '245') || list[0];
        if (first) {
          out[`${prefix}/ism_transition/current_state|code`] = first.value;
          out[`${prefix}/ism_transition/current_state|value`] = first.label;
          out[`${prefix}/ism_transition/current_state|terminology`] = 'openehr';
        }
      }
    }
    return { ...out, ...value };
  }

  get issues() {
    return this._issues.slice();
  }

  get webTemplate() {
    return this._wt;
  }

  set webTemplate(wt) {
    this._wt = wt;
    this._render(this._fill);
  }

  get value() {
    const out = {};
    const fixed = [];
    for (const f of this._fields) if (!this._off(f)) (f.fixed ? fixed.push(f) : f.get(out));
    const present = indexFlat(out).prefixes;
    // A fixed value is given when its parent is.
    for (const f of fixed) if (present.has(f.prefix.slice(0, f.prefix.lastIndexOf('/')))) f.get(out);
    // The keys a loaded composition had that no control shows stay, but not those of an entry
    // whose every shown value was cleared: that entry is gone.
    for (const k in this._keep) {
      if (k in out) continue;
      const gone = this._entries.some(({ prefix }) => k.startsWith(prefix) && (k[prefix.length] === '/' || k[prefix.length] === '|') && !present.has(prefix));
      if (!gone) out[k] = this._keep[k];
    }
    return out;
  }

  set value(flat) {
    this._fill = indexFlat(flat || {});
    if (this._wt && !this._loading) this._render(this._fill);
    else this._pending = this._fill;
  }

  connectedCallback() {
    if (!this._wt || (this.getAttribute('template-id') && this._wt.templateId !== this.getAttribute('template-id'))) this._load();
    else if (!this._root) this._render(this._fill);
  }

  attributeChangedCallback(name, old, now) {
    if (old === now || !this.isConnected || this._silent) return;
    if (name === 'template-id' || name === 'base-url') this._load();
    else if (name === 'composition-id') this._load();
    else if (name === 'language' || name === 'readonly') this._rerender();
  }

  _event(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  async _fetch(url, opts = {}) {
    const headers = { ...this._headers, ...(opts.headers || {}) };
    return fetch(url, { ...opts, headers });
  }

  _fail(status, message) {
    this._status(message, true);
    this._event('error', { status, message });
  }

  async _problem(res) {
    try {
      const body = await res.json();
      return body.message || body.detail || body.title || `HTTP ${res.status}`;
    } catch {
      return `HTTP ${res.status}`;
    }
  }

  /** Fetches the web template (and the composition, when editing), then renders. */
  async _load() {
    const seq = ++this._seq;
    const id = this.getAttribute('template-id');
    if (!id) return;
    this._loading = true;
    try {
      const key = `${this.base}\n${id}`;
      let wt = cache.get(key);
      if (!wt || (wt.templateId && wt.templateId !== id)) {
        const res = await this._fetch(`${this.base}/definition/template/adl1.4/${encodeURIComponent(id)}`, { headers: { Accept: WT } });
        if (!res.ok) return this._fail(res.status, `template ${id}: ${await this._problem(res)}`);
        wt = await res.json();
        cache.set(key, wt);
      }
      let fill = this._pending || EMPTY;
      this._pending = null;
      const cid = this.getAttribute('composition-id');
      if (cid) {
        const flat = await this._getComposition(cid);
        if (!flat) return;
        fill = indexFlat(flat);
      } else {
        this._versionUid = null;
        this._loaded = null;
      }
      if (seq !== this._seq) return;
      this._wt = wt;
      this._touched.clear();
      this._submitted = false;
      this._issues = [];
      this._render(fill);
    } catch (e) {
      this._fail(0, `cannot load the form: ${e.message}`);
    } finally {
      if (seq === this._seq) this._loading = false;
    }
  }

  /** GET a composition as FLAT; remembers its version uid. */
  async _getComposition(cid) {
    const ehr = this.getAttribute('ehr-id');
    const res = await this._fetch(`${this.base}/ehr/${encodeURIComponent(ehr)}/composition/${encodeURIComponent(cid)}`, { headers: { Accept: FLAT } });
    if (!res.ok) {
      this._fail(res.status, `composition ${cid}: ${await this._problem(res)}`);
      return null;
    }
    const etag = (res.headers.get('ETag') || '').replace(/^W\//, '').replace(/"/g, '');
    const flat = await res.json();
    const root = Object.keys(flat)[0] ? Object.keys(flat)[0].split('/')[0] : '';
    this._versionUid = etag || flat[`${root}/_uid`] || cid;
    this._loaded = flat;
    return flat;
  }

  _rerender() {
    if (!this._wt) return;
    this._render(indexFlat(this.value));
  }

  _off(f) {
    return f.alt && f.el.closest('[data-alt][hidden]') !== null;
  }

  // ---- rendering ----

  _render(fill) {
    if (!this._wt) return;
    const t0 = performance.now();
    const wt = this._wt;
    const langs = wt.languages && wt.languages.length ? wt.languages : [wt.defaultLanguage || 'en'];
    let lang = this.getAttribute('language') || wt.defaultLanguage || langs[0];
    if (!langs.includes(lang)) lang = wt.defaultLanguage || langs[0];
    const readonly = this.hasAttribute('readonly');
    this._cx = { lang, valueLang: wt.defaultLanguage || lang, readonly };
    this._memo = new WeakMap();
    this._fields = [];
    this._byPrefix = new Map();
    this._groups = new Map();
    this._repeats = new Map();
    this._entries = [];
    this._fill = fill;
    const tree = wt.tree;
    const root = h('div', { class: `cdr-root${readonly ? ' cdr-readonly' : ''}`, lang });
    const head = h('div', { class: 'cdr-head' }, h('h2', { class: 'cdr-title', text: nameOf(tree, lang) }));
    if (langs.length > 1) {
      const sel = h('select', { 'data-action': 'language', id: newId() });
      for (const l of langs) sel.append(h('option', { value: l, text: l }));
      sel.value = lang;
      head.append(h('span', { class: 'cdr-lang' }, h('label', { for: sel.id, text: say(lang, 'Language') }), sel));
    }
    root.append(head);
    const general = h('div', { class: 'cdr-general', 'data-issues-general': '' });
    root.append(general);
    this._groups.set(tree.id, general);
    const body = h('div', { class: 'cdr-body' });
    for (const c of tree.children || []) this._node(c, tree.id, body, fill);
    root.append(body);
    if (!readonly) {
      const conflict = h('div', { class: 'cdr-conflict', 'data-conflict': '', role: 'alert', hidden: true },
        h('p', { class: 'cdr-conflict-text', text: say(lang, 'Someone saved this composition meanwhile; your changes were not saved.') }),
        h('ul', { class: 'cdr-changes' }),
        h('button', { type: 'button', 'data-action': 'reload', text: say(lang, 'Load the latest version') }));
      const submit = h('button', { type: 'button', class: 'cdr-submit', 'data-action': 'submit', text: say(lang, 'Save') });
      const foot = h('div', { class: 'cdr-foot' }, submit, h('span', { class: 'cdr-status', role: 'status', 'aria-live': 'polite' }));
      if (!this._versionUid && !fill.vals.get(`${tree.id}/composer`)) {
        let remembered = '';
        try {
          remembered = localStorage.getItem('cdr-form-composer') || '';
        } catch {
          // No storage: nothing remembered.
        }
        const who = h('input', { type: 'text', id: newId(), 'data-flat-path': 'ctx/composer_name', autocomplete: 'name', class: 'cdr-who' });
        who.value = this._ctx.composer_name || remembered;
        foot.prepend(h('span', { class: 'cdr-sub' }, h('label', { for: who.id, text: say(lang, 'Recorded by') }), who));
      }
      root.append(conflict, foot);
    }
    // Keys a loaded composition has that no control shows are kept as they are.
    this._keep = {};
    for (const key in fill.flat) {
      if (key.startsWith('ctx/') || key === `${tree.id}/_uid`) continue;
      const bar = key.indexOf('|');
      const bodyKey = bar < 0 ? key : key.slice(0, bar);
      const f = this._byPrefix.get(bodyKey);
      if (!f || !f.suffixes.has(bar < 0 ? '' : key.slice(bar + 1)) || this._off(f)) this._keep[key] = fill.flat[key];
    }
    this._wire(root);
    this.replaceChildren(root);
    this._root = root;
    this._showIssues();
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    this.setAttribute('data-render-ms', String(ms));
    this._event('cdr-rendered', { ms });
  }

  _node(node, parent, box, fill) {
    if (!visible(node, this._memo)) return;
    const base = `${parent}/${node.id}`;
    if ((node.max ?? 1) === 1) {
      this._content(node, base, box, fill, -1);
      return;
    }
    let n = 0;
    while (fill.prefixes.has(`${base}:${n}`)) n++;
    const ro = this._cx.readonly;
    if (ro && !n) return;
    const rep = h('div', { class: 'cdr-repeat', 'data-repeat': base });
    box.append(rep);
    const r = { node, base, el: rep, count: 0, add: null };
    this._repeats.set(base, r);
    if (!ro) {
      const label = nameOf(node, this._cx.lang);
      r.add = h('button', { type: 'button', class: 'cdr-add', 'data-add': base, text: say(this._cx.lang, 'Add {n}', label) });
      rep.append(r.add);
    }
    for (let i = 0; i < Math.max(n, 1); i++) this._instance(r, fill);
  }

  _instance(r, fill) {
    const i = r.count++;
    const prefix = `${r.base}:${i}`;
    const inst = h('div', { class: 'cdr-instance', 'data-node-path': prefix });
    if (r.add) r.add.before(inst);
    else r.el.append(inst);
    this._content(r.node, prefix, inst, fill, i);
    if (r.add) {
      const label = nameOf(r.node, this._cx.lang);
      const lang = this._cx.lang;
      inst.append(h('button', { type: 'button', class: 'cdr-remove', 'data-remove': prefix, 'aria-label': say(lang, 'Remove {n}', `${label} ${i + 1}`), text: say(lang, 'Remove') }));
      r.add.disabled = r.node.max > 0 && r.count >= r.node.max;
    }
    return inst;
  }

  _content(node, prefix, box, fill, index) {
    const cx = this._cx;
    const kids = node.children || [];
    if (cx.readonly && !fill.prefixes.has(prefix)) return;
    if (!kids.length) {
      const f = makeField(node, prefix, cx);
      f.alt = this._alt;
      this._fields.push(f);
      this._byPrefix.set(prefix, f);
      box.append(f.el);
      const vals = fill.vals.get(prefix);
      if (vals) f.set(vals);
      else if (cx.readonly) f.el.remove();
      return;
    }
    const name = nameOf(node, cx.lang) + (index > 0 ? ` (${index + 1})` : '');
    const desc = descOf(node, cx.lang);
    const group = h('fieldset', { class: `cdr-group cdr-${baseType(node.rmType).toLowerCase()}`, 'data-group': prefix },
      h('legend', {}, name, node.min >= 1 ? h('span', { class: 'cdr-req', 'aria-hidden': 'true', text: ' *' }) : null));
    if (desc && !cx.readonly) group.append(h('div', { class: 'cdr-hint', text: desc }));
    box.append(group);
    this._groups.set(prefix, group);
    if (ENTRIES.has(node.rmType)) this._entries.push({ node, prefix });
    if (isChoice(node)) {
      this._choice(node, prefix, group, fill);
      return;
    }
    // An interval's bounds: lower first.
    const order = isInterval(node) ? [...kids].sort((a, b) => (a.id === 'lower' ? -1 : b.id === 'lower' ? 1 : 0)) : kids;
    for (const c of order) this._node(c, prefix, group, fill);
    if (isInterval(node) && !cx.readonly) this._intervalFlags(node, prefix, group);
    if (node.rmType === 'OBSERVATION') this._origin(node, prefix, group, fill);
    if (node.rmType === 'ACTION') this._careflow(node, prefix, group, fill);
  }

  /** An element with several value types: a switch between its alternatives. */
  _choice(node, prefix, group, fill) {
    const alts = node.children.filter((c) => visible(c, this._memo));
    const picked = alts.find((c) => fill.prefixes.has(`${prefix}/${c.id}`)) || alts[0];
    if (this._cx.readonly) {
      this._node(picked, prefix, group, fill);
      return;
    }
    const sel = h('select', { 'data-choice': prefix, id: newId() });
    for (const c of alts) sel.append(h('option', { value: c.id, text: TYPE_NAMES[baseType(c.rmType)] || nameOf(c, this._cx.lang) }));
    sel.value = picked.id;
    group.append(h('div', { class: 'cdr-field' }, h('label', { for: sel.id, class: 'cdr-label', text: say(this._cx.lang, 'Kind of value') }), sel));
    const outer = this._alt;
    for (const c of alts) {
      const box = h('div', { 'data-alt': c.id, hidden: c !== picked });
      group.append(box);
      this._alt = true;
      this._node(c, prefix, box, fill);
      this._alt = outer;
    }
  }

  /** An observation's history origin (FLAT `…/history_origin`), folded away: the time its
   * events are measured from, the context's time when not given. */
  _origin(node, prefix, group, fill) {
    const key = `${prefix}/history_origin`;
    if (this._cx.readonly && !fill.vals.has(key)) return;
    const names = {};
    for (const l of this._wt.languages || [this._cx.lang]) names[l] = say(l, 'Start of the observation (history origin)');
    const f = makeField({ id: 'history_origin', rmType: 'DV_DATE_TIME', min: 0, max: 1, localizedNames: names, inputs: [{ type: 'DATETIME' }] }, key, this._cx);
    f.alt = this._alt;
    this._fields.push(f);
    this._byPrefix.set(key, f);
    const vals = fill.vals.get(key);
    if (vals) f.set(vals);
    const box = this._cx.readonly ? group : h('details', { class: 'cdr-timing', open: !!vals }, h('summary', { text: say(this._cx.lang, 'Timing') }));
    box.append(f.el);
    if (box !== group) group.append(box);
  }

  /** An action's careflow step (or, without steps, its state): the web template leaves the
   * ISM transition to the context, but only the user knows which step was done. A step gives
   * the current state it belongs to. */
  _careflow(node, prefix, group, fill) {
    const ism = (node.children || []).find((c) => c.id === 'ism_transition');
    const kid = (id) => ism && (ism.children || []).find((c) => c.id === id);
    const list = (n) => ((n && n.inputs) || []).flatMap((i) => i.list || []);
    const step = kid('careflow_step');
    const state = kid('current_state');
    const use = list(step).length ? step : list(state).length ? state : null;
    if (!use) return;
    const key = `${prefix}/ism_transition/${use.id}`;
    if (this._cx.readonly && !fill.vals.has(key)) return;
    const f = makeField({ ...use, inContext: false, min: 0 }, key, this._cx);
    f.alt = this._alt;
    if (use === step) {
      const own = f.get;
      const states = list(state);
      f.suffixes.add('code');
      f.get = (out) => {
        own(out);
        const it = list(step).find((i) => i.value === out[`${key}|code`]);
        const code = it && it.currentStates && it.currentStates[0];
        if (!code) return;
        const st = states.find((i) => i.value === code);
        const at = `${prefix}/ism_transition/current_state`;
        out[`${at}|code`] = code;
        out[`${at}|value`] = st ? st.label : code;
        out[`${at}|terminology`] = 'openehr';
      };
    }
    this._fields.push(f);
    this._byPrefix.set(key, f);
    const vals = fill.vals.get(key);
    if (vals) f.set(vals);
    const anchor = group.querySelector(':scope > .cdr-hint') || group.querySelector(':scope > legend');
    anchor.after(f.el);
  }

  /** DV_INTERVAL: a box per bound for "no limit" (|lower_unbounded, |upper_unbounded); a
   * bound left empty is unbounded too. */
  _intervalFlags(node, prefix, group) {
    const lang = this._cx.lang;
    const el = h('div', { class: 'cdr-field cdr-row cdr-bounds', 'data-field': prefix });
    const boxes = {};
    const keys = new Map();
    for (const [b, words] of [['lower', 'No lower limit'], ['upper', 'No upper limit']]) {
      const key = `${prefix}|${b}_unbounded`;
      const box = h('input', { type: 'checkbox', id: newId(), 'data-flat-path': key });
      el.append(h('span', { class: 'cdr-opt' }, box, h('label', { for: box.id, text: say(lang, words) })));
      boxes[b] = box;
      keys.set(key, box);
    }
    group.append(el);
    const f = {
      prefix,
      node,
      el,
      alt: this._alt,
      suffixes: new Set(['lower_unbounded', 'upper_unbounded', 'lower_included', 'upper_included']),
      get: (out) => {
        const has = (b) => Object.keys(out).some((k) => k.startsWith(`${prefix}/${b}`));
        const lower = has('lower');
        const upper = has('upper');
        if (!lower && !upper && !boxes.lower.checked && !boxes.upper.checked) return;
        out[`${prefix}|lower_unbounded`] = boxes.lower.checked || !lower;
        out[`${prefix}|upper_unbounded`] = boxes.upper.checked || !upper;
        for (const s of ['lower_included', 'upper_included']) if (f.vals && s in f.vals) out[`${prefix}|${s}`] = f.vals[s];
      },
      set: (vals) => {
        f.vals = vals;
        boxes.lower.checked = vals.lower_unbounded === true;
        boxes.upper.checked = vals.upper_unbounded === true;
      },
      controls: () => [boxes.lower, boxes.upper],
      host: (key) => keys.get(key) || null,
      checks: () => [],
    };
    this._fields.push(f);
    this._byPrefix.set(prefix, f);
    const vals = this._fill.vals.get(prefix);
    if (vals) f.set(vals);
  }

  // ---- interaction ----

  _wire(root) {
    const fieldOf = (el) => {
      const box = el.closest('[data-field]');
      return box ? this._byPrefix.get(box.getAttribute('data-field')) : null;
    };
    const stop = (e) => {
      if (!(e instanceof CustomEvent)) e.stopPropagation();
    };
    root.addEventListener('change', (e) => {
      stop(e);
      const t = e.target;
      if (t.matches('select[data-action=language]')) {
        this.setAttribute('language', t.value);
        return;
      }
      if (t.matches('select[data-choice]')) {
        const group = t.closest('fieldset');
        for (const alt of group.querySelectorAll(':scope > [data-alt]')) alt.hidden = alt.getAttribute('data-alt') !== t.value;
        this._event('change', { path: t.getAttribute('data-choice'), value: t.value });
        return;
      }
      const f = fieldOf(t);
      if (!f) return;
      this._touched.add(f.prefix);
      const out = {};
      f.get(out);
      const path = t.getAttribute('data-flat-path') || Object.keys(out)[0] || f.prefix;
      this._event('change', { path, value: out[path] });
      if (this._shown().length) this._schedule();
    });
    root.addEventListener('input', () => {
      if (this._shown().length) this._schedule();
    });
    root.addEventListener('focusout', (e) => {
      const f = fieldOf(e.target);
      if (!f) return;
      this._touched.add(f.prefix);
      this._schedule();
    });
    root.addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b || !root.contains(b)) return;
      if (b.hasAttribute('data-add')) this._add(b.getAttribute('data-add'));
      else if (b.hasAttribute('data-remove')) this._remove(b.getAttribute('data-remove'));
      else if (b.matches('[data-action=submit]')) this.submit().catch(() => {});
      else if (b.matches('[data-action=reload]')) this._reload();
    });
  }

  _add(base) {
    const r = this._repeats.get(base);
    if (!r || (r.node.max > 0 && r.count >= r.node.max)) return;
    const inst = this._instance(r, EMPTY);
    const first = inst.querySelector('input:not([type=hidden]), select, textarea');
    if (first) first.focus();
    this._event('change', { path: inst.getAttribute('data-node-path'), value: null });
  }

  _remove(prefix) {
    const m = /^(.*):(\d+)$/.exec(prefix);
    if (!m) return;
    const flat = withoutInstance(this.value, m[1], Number(m[2]));
    this._touched.clear();
    this._render(indexFlat(flat));
    const add = this.querySelector(`button[data-add="${CSS.escape(m[1])}"]`);
    if (add) add.focus();
    this._event('change', { path: prefix, value: null });
  }

  async _reload() {
    const cid = this.getAttribute('composition-id') || (this._versionUid || '').split('::')[0];
    if (!cid) return;
    const flat = await this._getComposition(cid.split('::')[0]);
    if (!flat) return;
    this._issues = [];
    this._submitted = false;
    this._render(indexFlat(flat));
    this._status(say(this._cx.lang, 'The latest version is loaded.'));
  }

  _status(text, error) {
    const s = this._root && this._root.querySelector('.cdr-status');
    if (!s) return;
    s.textContent = text;
    s.classList.toggle('cdr-error', !!error);
  }

  // ---- validation ----

  _schedule() {
    clearTimeout(this._timer);
    this._timer = setTimeout(() => this.validate().catch(() => {}), 500);
  }

  /** The controls' own checks: native validity (range, pattern, type) and required values. */
  _clientIssues(flat) {
    const present = indexFlat(flat).prefixes;
    const root = this._wt.tree.id;
    const out = [];
    for (const f of this._fields) {
      if (this._off(f)) continue;
      out.push(...f.checks());
      if (f.node.min >= 1 && !present.has(f.prefix)) {
        const parent = f.prefix.slice(0, f.prefix.lastIndexOf('/'));
        // An interval's missing bound is an unbounded one.
        const interval = this._byPrefix.get(parent);
        if (interval && interval.suffixes.has('lower_unbounded')) continue;
        if (parent === root || present.has(parent)) out.push({ flat_path: f.prefix, message: say(this._cx.lang, 'a value is required'), constraint: 'required', client: true });
      }
    }
    return out;
  }

  async validate() {
    clearTimeout(this._timer);
    if (!this._wt) return [];
    const seq = ++this._vseq;
    const flat = this._body();
    const mine = this._clientIssues(flat);
    let server = [];
    const ehr = this.getAttribute('ehr-id');
    if (ehr) {
      const url = `${this.base}/ehr/${encodeURIComponent(ehr)}/composition?templateId=${encodeURIComponent(this._wt.templateId)}&dry_run=true`;
      const res = await this._fetch(url, { method: 'POST', headers: { 'Content-Type': FLAT, Accept: 'application/json' }, body: JSON.stringify(flat) });
      if (res.status === 422 || res.status === 400) {
        const body = await res.json().catch(() => ({}));
        const list = [body.issues, body.validationErrors].find((l) => Array.isArray(l) && l.length && typeof l[0] === 'object');
        server = list || [{ flat_path: this._wt.tree.id, message: body.message || body.detail || `HTTP ${res.status}` }];
      } else if (!res.ok) {
        const message = await this._problem(res);
        this._fail(res.status, `validation: ${message}`);
        throw { status: res.status, message };
      }
    }
    if (seq !== this._vseq) return this._issues;
    const at = new Set(server.map((i) => i.flat_path));
    this._issues = [...server, ...mine.filter((i) => !at.has(i.flat_path))];
    const shown = this._showIssues();
    if (shown.length) this._event('invalid', { issues: shown.slice() });
    return this.issues;
  }

  /** The field or group an issue belongs to: the field of its key, else the nearest group. */
  _place(issue) {
    const key = issue.flat_path || '';
    let body = key.split('|')[0];
    const f = this._byPrefix.get(body);
    if (f && !this._off(f)) return { f, el: f.host(key) || null, box: f.el };
    while (body) {
      const g = this._groups.get(body);
      if (g) return { f: null, el: null, box: g };
      const fb = this._byPrefix.get(body);
      if (fb && !this._off(fb)) return { f: fb, el: null, box: fb.el };
      const cut = body.lastIndexOf('/');
      if (cut < 0) break;
      body = body.slice(0, cut);
    }
    return { f: null, el: null, box: this._groups.get(this._wt.tree.id) };
  }

  _shown() {
    if (this._submitted) return this._issues;
    return this._issues.filter((i) => {
      const p = this._place(i);
      return p.f && this._touched.has(p.f.prefix);
    });
  }

  _showIssues() {
    if (!this._root) return;
    for (const el of this._root.querySelectorAll('.cdr-issue')) el.remove();
    for (const el of this._root.querySelectorAll('[aria-invalid]')) {
      el.removeAttribute('aria-invalid');
      const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((x) => x && !x.startsWith('cdr-i-'));
      if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
      else el.removeAttribute('aria-describedby');
    }
    const shown = this._shown();
    for (const issue of shown) {
      const p = this._place(issue);
      const id = `cdr-i-${newId()}`;
      const el = h('div', { class: 'cdr-issue', id, 'data-issue-for': issue.flat_path || '', text: issue.message || 'not valid' });
      if (p.el) p.el.after(el);
      else if (p.box.tagName === 'FIELDSET' && p.box.querySelector(':scope > legend')) p.box.querySelector(':scope > legend').after(el);
      else p.box.append(el);
      const controls = p.el ? [p.el.matches('input, select, textarea') ? p.el : null, ...p.el.querySelectorAll('input, select, textarea')].filter(Boolean) : p.f ? [...p.f.controls()] : [];
      for (const c of controls) {
        c.setAttribute('aria-invalid', 'true');
        c.setAttribute('aria-describedby', `${c.getAttribute('aria-describedby') || ''} ${id}`.trim());
      }
    }
    const submit = this._root.querySelector('button[data-action=submit]');
    if (submit) submit.setAttribute('aria-disabled', shown.length ? 'true' : 'false');
    if (this._submitted && shown.length) this._status(say(this._cx.lang, '{n} problem(s) to correct before saving.', shown.length), true);
    return shown;
  }

  // ---- saving ----

  submit() {
    // One save at a time: a second click while saving waits for the first.
    if (!this._busy) this._busy = this._submit().finally(() => {
      this._busy = null;
    });
    return this._busy;
  }

  async _submit() {
    this._submitted = true;
    const issues = await this.validate();
    if (issues.length) {
      const first = this._root.querySelector('[aria-invalid=true]');
      if (first) first.focus();
      throw issues;
    }
    const ehr = this.getAttribute('ehr-id');
    if (!ehr) {
      this._fail(0, 'no EHR to save into (attribute ehr-id)');
      throw { status: 0, message: 'no ehr-id' };
    }
    const flat = this._body();
    const editing = this._versionUid;
    const who = this._root.querySelector('[data-flat-path="ctx/composer_name"]');
    try {
      if (who && who.value.trim()) localStorage.setItem('cdr-form-composer', who.value.trim());
    } catch {
      // No storage: nothing to remember.
    }
    const url = editing
      ? `${this.base}/ehr/${encodeURIComponent(ehr)}/composition/${encodeURIComponent(editing.split('::')[0])}?templateId=${encodeURIComponent(this._wt.templateId)}`
      : `${this.base}/ehr/${encodeURIComponent(ehr)}/composition?templateId=${encodeURIComponent(this._wt.templateId)}`;
    const headers = { 'Content-Type': FLAT, Accept: 'application/json', Prefer: 'return=minimal' };
    if (editing) headers['If-Match'] = `"${editing}"`;
    this._status(say(this._cx.lang, 'Saving…'));
    const res = await this._fetch(url, { method: editing ? 'PUT' : 'POST', headers, body: JSON.stringify(flat) });
    const etag = res.headers.get('ETag') || '';
    const location = res.headers.get('Location') || '';
    if (res.status === 412) {
      await this._conflict(etag, location);
      throw { conflict: true, status: 412, etag, location };
    }
    if (res.status === 422) {
      const body = await res.json().catch(() => ({}));
      this._issues = (Array.isArray(body.issues) && body.issues) || [{ flat_path: this._wt.tree.id, message: body.message || 'not valid' }];
      this._showIssues();
      this._event('invalid', { issues: this.issues });
      throw this.issues;
    }
    if (!res.ok) {
      const message = await this._problem(res);
      this._fail(res.status, `not saved: ${message}`);
      throw { status: res.status, message };
    }
    const versionUid = etag.replace(/^W\//, '').replace(/"/g, '') || (location.split('/').pop() || '');
    this._versionUid = versionUid;
    this._loaded = flat;
    this._silent = true;
    this.setAttribute('composition-id', versionUid.split('::')[0]);
    this.setAttribute('data-version-uid', versionUid);
    this._silent = false;
    const hide = this._root.querySelector('[data-conflict]');
    if (hide) hide.hidden = true;
    this._status(say(this._cx.lang, 'Saved (version {n}).', versionUid.split('::').pop()));
    const detail = { status: res.status, versionUid, etag, location };
    this._event('submit', detail);
    return detail;
  }

  /** Shows a 412: what the latest version changed compared with the version this form had. */
  async _conflict(etag, location) {
    const box = this._root.querySelector('[data-conflict]');
    const list = box.querySelector('.cdr-changes');
    list.replaceChildren();
    box.hidden = false;
    this._status(say(this._cx.lang, 'Not saved: there is a newer version.'), true);
    try {
      const ehr = this.getAttribute('ehr-id');
      const id = (this._versionUid || '').split('::')[0];
      const res = await this._fetch(`${this.base}/ehr/${encodeURIComponent(ehr)}/composition/${encodeURIComponent(id)}`, { headers: { Accept: FLAT } });
      if (res.ok) {
        const latest = await res.json();
        const before = this._loaded || {};
        // The fields the form shows whose value the latest version changed.
        const shown = (k) => this._byPrefix.has(k.split('|')[0]);
        const keys = [...new Set([...Object.keys(before), ...Object.keys(latest)])].filter((k) => shown(k) && JSON.stringify(before[k]) !== JSON.stringify(latest[k]));
        for (const k of keys.slice(0, 50)) {
          const f = this._byPrefix.get(k.split('|')[0]);
          const label = f ? nameOf(f.node, this._cx.lang) : k;
          list.append(h('li', { text: `${label}: ${before[k] ?? '—'} → ${latest[k] ?? '—'}` }));
        }
      }
    } catch {
      // The notice stands without the list.
    }
    this._event('conflict', { etag, location });
  }
}

if (!customElements.get('cdr-form')) customElements.define('cdr-form', CdrForm);

// The controls of <cdr-form>: one field per leaf node instance of a web template (a data
// value), writing the FLAT keys of that value. A field is
//   { prefix, node, el, suffixes, get(out), set(vals), controls(), host(key), checks() }
// where `get` adds the field's FLAT keys to `out`, `set` fills the controls from the values
// of the field's keys by suffix ('' for the bare key), `host` is the element an issue about
// `key` is placed after, and `checks` lists the client-side problems ({flat_path, message}).

/** The form's own words in the languages templates are most often written in (English is the
 * key); `{n}` stands for a value. */
const WORDS = {
  de: {
    'Not recorded': 'Nicht erfasst', Code: 'Code', Text: 'Text', Terminology: 'Terminologie', Value: 'Wert',
    Unit: 'Einheit', Numerator: 'Zähler', Denominator: 'Nenner', Kind: 'Art', 'local (no zone)': 'lokal (ohne Zone)',
    Time: 'Uhrzeit', 'Date and time': 'Datum und Uhrzeit', 'Time zone': 'Zeitzone', Years: 'Jahre', Months: 'Monate',
    Weeks: 'Wochen', Days: 'Tage', Hours: 'Stunden', Minutes: 'Minuten', Seconds: 'Sekunden', Issuer: 'Aussteller',
    Assigner: 'Zuweisende Stelle', Type: 'Typ', 'or a file': 'oder eine Datei', 'Media type': 'Medientyp',
    'Size (bytes)': 'Größe (Bytes)', 'Alternative text': 'Alternativtext', Formalism: 'Formalismus', Yes: 'Ja',
    No: 'Nein', 'held inline: {n} bytes': 'eingebettet: {n} Bytes', Language: 'Sprache', 'Kind of value': 'Art des Werts',
    'Add {n}': '{n} hinzufügen', Remove: 'Entfernen', 'Remove {n}': '{n} entfernen', Save: 'Speichern',
    'Recorded by': 'Erfasst von', Timing: 'Zeitangaben', 'Start of the observation (history origin)': 'Beginn der Beobachtung',
    'Someone saved this composition meanwhile; your changes were not saved.':
      'Inzwischen hat jemand anderes gespeichert; Ihre Änderungen wurden nicht gespeichert.',
    'Load the latest version': 'Neueste Version laden', 'The latest version is loaded.': 'Die neueste Version ist geladen.',
    'Saving…': 'Wird gespeichert…', 'Saved (version {n}).': 'Gespeichert (Version {n}).',
    'Not saved: there is a newer version.': 'Nicht gespeichert: es gibt eine neuere Version.',
    '{n} problem(s) to correct before saving.': 'Vor dem Speichern {n} Problem(e) beheben.',
    'a value is required': 'ein Wert ist erforderlich',
    'No lower limit': 'Keine Untergrenze', 'No upper limit': 'Keine Obergrenze',
  },
};

/** The form's word `s` in `lang`, with `{n}` replaced by `n`. */
export function say(lang, s, n) {
  const w = (WORDS[lang] && WORDS[lang][s]) || s;
  return n === undefined ? w : w.replace('{n}', n);
}

/** DV_PROPORTION kinds by their `type` number. */
export const PROPORTION_KINDS = ['ratio', 'unitary', 'percent', 'fraction', 'integer_fraction'];

let seq = 0;
/** A page-unique element id. */
export const newId = () => `cdr-${(++seq).toString(36)}`;

/** Creates an element: `h('input', {type: 'text', 'data-flat-path': k}, child, …)`. */
export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const k in attrs) {
      const v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else el.setAttribute(k, v === true ? '' : v);
    }
  }
  for (const k of kids) if (k !== null && k !== undefined && k !== false) el.append(k);
  return el;
}

/** The RM type without generic parameters. */
export const baseType = (t) => (t || '').replace(/<.*$/, '');

/** A node's name in `lang`. */
export function nameOf(node, lang) {
  return (node.localizedNames && node.localizedNames[lang]) || node.localizedName || node.name || node.id;
}

/** A node's description in `lang` (none when it says nothing more than the name). */
export function descOf(node, lang) {
  const d = node.localizedDescriptions && node.localizedDescriptions[lang];
  return d && d !== '*' && d !== 'unknown' && d !== nameOf(node, lang) ? d : '';
}

/** A list item's label in `lang`. */
export const itemLabel = (item, lang) =>
  (item.localizedLabels && item.localizedLabels[lang]) || item.label || item.value;

const inputOf = (node, suffix) => (node.inputs || []).find((i) => (i.suffix || '') === suffix);

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A number from an input's text; the text itself when it is not one (the server says why). */
function num(s, integer) {
  const t = s.trim();
  if (!NUMBER.test(t)) return t;
  const n = Number(t);
  return integer && !Number.isInteger(n) ? t : n;
}

const hasValue = (v) => v !== undefined && v !== null && v !== '';

/** Applies a web template range to a number input. */
function applyRange(input, validation) {
  const r = validation && validation.range;
  input.removeAttribute('min');
  input.removeAttribute('max');
  if (r && typeof r.min === 'number') input.min = r.min;
  if (r && typeof r.max === 'number') input.max = r.max;
  const p = validation && validation.precision;
  input.step = p && typeof p.max === 'number' ? String(10 ** -p.max) : 'any';
}

// Date and time values: the native pickers hold no time zone, so a date-time or time control is
// the picker plus a zone choice, and the picker element's `value` property is the whole
// ISO 8601 value (set: picker + zone; get: picker value with seconds + zone). Scripts and
// tests can therefore set `.value = '2026-11-20T15:00:00Z'` on the element its key names.
const NATIVE_VALUE = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value');
const ZONE = /(Z|[+-]\d\d(:?\d\d)?)$/;

function localOffset() {
  const m = -new Date().getTimezoneOffset();
  if (m === 0) return 'Z';
  const a = Math.abs(m);
  return `${m < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}

/** Gives a picker the `value` of its FLAT key: with `zone` (a select), the zone is part of the
 * value; with `seconds`, zero seconds the picker drops are written. A value the picker cannot
 * hold (a partial date-time loaded from a composition) is kept until the user edits. */
function pickerValue(input, zone, seconds) {
  let raw = null;
  input.addEventListener('input', (e) => {
    if (e.isTrusted) raw = null;
  });
  Object.defineProperty(input, 'value', {
    configurable: true,
    get() {
      let v = NATIVE_VALUE.get.call(this);
      if (!v) return raw || '';
      if (seconds && /(^|T)\d\d:\d\d$/.test(v)) v += ':00';
      return zone ? v + zone.value : v;
    },
    set(s) {
      s = String(s == null ? '' : s);
      const m = zone && s.match(ZONE);
      const z = m && /\d/.test(s.slice(0, m.index)) && (s.includes('T') || /^\d\d:\d\d/.test(s)) ? m[0] : '';
      const local = z ? s.slice(0, -z.length) : s;
      if (/\.\d/.test(local)) this.step = 'any';
      NATIVE_VALUE.set.call(this, local);
      raw = s && !NATIVE_VALUE.get.call(this) ? s : null;
      if (raw || !zone) return;
      if (z && ![...zone.options].some((o) => o.value === z)) zone.append(h('option', { value: z, text: z }));
      zone.value = z;
    },
  });
}

/** Makes the field of a leaf node instance. `cx`: {lang, valueLang, readonly, required}. */
export function makeField(node, prefix, cx) {
  const f = {
    prefix,
    node,
    suffixes: new Set(),
    keys: new Map(), // FLAT key → the control writing it
    hint: null,
  };
  const t = baseType(node.rmType);
  const label = nameOf(node, cx.lang);
  const desc = descOf(node, cx.lang);
  if (cx.readonly) return readonlyField(f, t, label, cx);
  const build = BUILDERS[t] || generic;
  // A field with one control gets a <label>; several controls share a fieldset and legend.
  const parts = [];
  const hintId = desc ? newId() : null;
  f.hint = hintId;
  const api = {
    lang: cx.lang,
    valueLang: cx.valueLang,
    required: node.min >= 1,
    register(el, key) {
      if (!el.id) el.id = newId();
      if (key) {
        el.setAttribute('data-flat-path', key);
        const suffix = key.includes('|') ? key.slice(key.indexOf('|') + 1) : '';
        f.suffixes.add(suffix);
        if (!f.keys.has(key)) f.keys.set(key, el);
      }
      if (hintId) el.setAttribute('aria-describedby', hintId);
      return el;
    },
    control(el, key, sub) {
      // `sub`: the control's own label inside a fieldset; absent for the field's one control.
      api.register(el, key);
      if (sub === undefined) {
        parts.push(h('label', { for: el.id, class: 'cdr-label' }, label, marker(node)), el);
        if (api.required) el.setAttribute('aria-required', 'true');
      } else {
        parts.push(h('span', { class: 'cdr-sub' }, h('label', { for: el.id }, say(api.lang, sub)), el));
      }
      return el;
    },
    add(el) {
      parts.push(el);
      return el;
    },
  };
  build(f, api, node, prefix);
  const single = parts.length === 2 && parts[0].tagName === 'LABEL';
  if (single) {
    f.el = h('div', { class: 'cdr-field', 'data-field': prefix }, ...parts);
    if (hintId) parts[0].after(h('div', { class: 'cdr-hint', id: hintId, text: desc }));
  } else {
    const legend = h('legend', { class: 'cdr-label', id: newId() }, label, marker(node));
    f.el = h('fieldset', { class: 'cdr-field cdr-multi', 'data-field': prefix }, legend);
    if (hintId) f.el.append(h('div', { class: 'cdr-hint', id: hintId, text: desc }));
    f.el.append(h('div', { class: 'cdr-row' }, ...parts));
    // The value's main control (magnitude, code, id, …) carries the requirement.
    const main = [...f.keys.values()][0];
    if (api.required && main && main.type !== 'radio') main.setAttribute('aria-required', 'true');
    for (const group of f.el.querySelectorAll('[role=radiogroup]')) group.setAttribute('aria-labelledby', legend.id);
  }
  f.controls = () => f.el.querySelectorAll('input, select, textarea');
  f.host = (key) => {
    const c = f.keys.get(key);
    if (!c) return null;
    return c.type === 'radio' ? c.closest('.cdr-options') : c.closest('.cdr-sub') || c;
  };
  f.checks = () => {
    const out = [];
    for (const [key, c] of f.keys) {
      if (c.type === 'radio') continue;
      if (!c.checkValidity()) out.push({ flat_path: key, message: c.validationMessage, client: true });
    }
    return out;
  };
  return f;
}

function marker(node) {
  return node.min >= 1 ? h('span', { class: 'cdr-req', 'aria-hidden': 'true', text: ' *' }) : null;
}

// ---- choices (a list of codes or texts) ----

/** Radios (up to 5 items) or a select writing `key`; items: [{value, label}]. */
function pick(api, key, items, required = api.required) {
  if (items.length <= 5) {
    const name = newId();
    const box = h('div', { class: 'cdr-options', role: 'radiogroup' });
    const radios = [];
    const opts = required ? items : [{ value: '', label: say(api.lang, 'Not recorded'), none: true }, ...items];
    for (const it of opts) {
      const r = h('input', { type: 'radio', name, value: it.value, id: newId() });
      if (it.none) r.checked = true;
      else api.register(r, key);
      radios.push(r);
      box.append(h('span', { class: 'cdr-opt' }, r, h('label', { for: r.id, text: it.label })));
    }
    if (required) box.setAttribute('aria-required', 'true');
    api.add(box);
    return {
      radios,
      get: () => (radios.find((r) => r.checked) || { value: '' }).value,
      set(v) {
        if (v && !radios.some((r) => r.value === v)) {
          // A code the template's list lacks (loaded data): shown, so that it is kept.
          const r = h('input', { type: 'radio', name, value: v, id: newId() });
          api.register(r, key);
          radios.push(r);
          box.append(h('span', { class: 'cdr-opt' }, r, h('label', { for: r.id, text: v })));
        }
        for (const r of radios) r.checked = r.value === (v || '');
      },
    };
  }
  const sel = h('select', {}, h('option', { value: '', text: '—' }));
  for (const it of items) sel.append(h('option', { value: it.value, text: it.label }));
  api.control(sel, key);
  return {
    get: () => sel.value,
    set(v) {
      if (v && ![...sel.options].some((o) => o.value === v)) sel.append(h('option', { value: v, text: v }));
      sel.value = v || '';
    },
  };
}

// ---- builders by RM type ----

const MULTILINE = /comment|descri|narrative|detail|note|summar|story|histor|reason|instruction|plan|concern|goal|wish|prefer|statement|clinical|background|other|additional|specific|what|how/i;

function text(f, api, node, p) {
  const inp = inputOf(node, '') || {};
  const list = inp.list || [];
  if (list.length && inp.listOpen !== true) {
    const c = pick(api, p, list.map((i) => ({ value: i.value, label: itemLabel(i, api.lang) })));
    f.get = (out) => {
      const v = c.get();
      if (v) out[p] = v;
    };
    f.set = (vals) => c.set(vals['']);
    return;
  }
  const multi = !list.length && MULTILINE.test(node.id);
  const el = multi ? h('textarea', { rows: 3 }) : h('input', { type: 'text' });
  if (inp.validation && inp.validation.pattern) el.setAttribute('pattern', inp.validation.pattern);
  api.control(el, p);
  if (list.length) {
    const dl = h('datalist', { id: newId() });
    for (const i of list) dl.append(h('option', { value: itemLabel(i, api.lang) }));
    el.setAttribute('list', dl.id);
    api.add(dl);
  }
  f.get = (out) => {
    if (el.value.trim()) out[p] = el.value;
  };
  f.set = (vals) => {
    el.value = vals[''] ?? vals.value ?? '';
  };
}

const MATH_FUNCTIONS = [['145', 'minimum'], ['144', 'maximum'], ['146', 'mean'], ['147', 'change'], ['148', 'total'], ['149', 'variation'], ['521', 'decrease'], ['522', 'increase'], ['640', 'actual']];

function coded(f, api, node, p) {
  const code = inputOf(node, 'code') || {};
  let term = code.terminology;
  let list = code.list || [];
  if (!list.length && node.id === 'math_function') {
    // An interval event's math function: openEHR's event math function group.
    term = 'openehr';
    list = MATH_FUNCTIONS.map(([value, label]) => ({ value, label }));
  }
  if (list.length === 1 && node.inContext) {
    // A context value with one choice (an interval event's math function): fixed.
    const it = list[0];
    api.add(h('span', { class: 'cdr-fixed', text: itemLabel(it, api.lang) }));
    f.suffixes.add('code').add('value').add('terminology');
    f.fixed = true;
    f.get = (out) => {
      out[`${p}|code`] = it.value;
      out[`${p}|value`] = itemLabel(it, api.valueLang);
      out[`${p}|terminology`] = term || 'openehr';
    };
    f.set = () => {};
    return;
  }
  if (list.length) {
    const byCode = new Map(list.map((i) => [i.value, i]));
    const c = pick(api, `${p}|code`, list.map((i) => ({ value: i.value, label: itemLabel(i, api.lang) })));
    f.suffixes.add('value').add('terminology');
    f.get = (out) => {
      const v = c.get();
      if (!v) return;
      out[`${p}|code`] = v;
      const it = byCode.get(v);
      out[`${p}|value`] = it ? itemLabel(it, api.valueLang) : f.loadedValue || v;
      out[`${p}|terminology`] = term || f.loadedTerm || 'local';
    };
    f.set = (vals) => {
      f.loadedValue = vals.value;
      f.loadedTerm = vals.terminology;
      c.set(vals.code);
    };
    return;
  }
  // An external or open terminology: the code and its text.
  const codeEl = api.control(h('input', { type: 'text', class: 'cdr-code' }), `${p}|code`, 'Code');
  const valueEl = api.control(h('input', { type: 'text' }), `${p}|value`, 'Text');
  const termEl = term
    ? null
    : api.control(h('input', { type: 'text', class: 'cdr-code', placeholder: 'e.g. SNOMED-CT' }), `${p}|terminology`, 'Terminology');
  if (term) f.suffixes.add('terminology');
  f.get = (out) => {
    const c = codeEl.value.trim();
    const v = valueEl.value;
    if (!c && !v.trim()) return;
    if (c) out[`${p}|code`] = c;
    if (v.trim()) out[`${p}|value`] = v;
    const t = term || termEl.value.trim();
    if (c && t) out[`${p}|terminology`] = t;
  };
  f.set = (vals) => {
    codeEl.value = vals.code ?? '';
    valueEl.value = vals.value ?? vals[''] ?? '';
    if (termEl) termEl.value = vals.terminology ?? '';
  };
}

function ordinal(f, api, node, p) {
  const inp = inputOf(node, '') || {};
  const list = inp.list || [];
  if (!list.length) {
    generic(f, api, { ...node, inputs: [{ suffix: 'code', type: 'TEXT' }, { suffix: 'value', type: 'TEXT' }, { suffix: 'ordinal', type: 'INTEGER' }] }, p);
    return;
  }
  const byCode = new Map(list.map((i) => [i.value, i]));
  const c = pick(api, `${p}|code`, list.map((i) => ({ value: i.value, label: `${i.ordinal} – ${itemLabel(i, api.lang)}` })));
  f.suffixes.add('value').add('ordinal').add('terminology').add('');
  f.get = (out) => {
    const v = c.get();
    if (!v) return;
    const it = byCode.get(v);
    out[`${p}|code`] = v;
    if (it) {
      out[`${p}|ordinal`] = it.ordinal;
      out[`${p}|value`] = itemLabel(it, api.valueLang);
    }
    out[`${p}|terminology`] = f.loadedTerm || 'local';
  };
  f.set = (vals) => {
    f.loadedTerm = vals.terminology;
    let code = vals.code;
    if (!code && hasValue(vals.ordinal)) code = (list.find((i) => i.ordinal === vals.ordinal) || {}).value;
    c.set(code);
  };
}

function quantity(f, api, node, p) {
  const magIn = inputOf(node, 'magnitude') || {};
  const unitIn = inputOf(node, 'unit') || {};
  const units = unitIn.list || [];
  const mag = api.control(h('input', { type: 'number', inputmode: 'decimal' }), `${p}|magnitude`, units.length === 1 ? `${say(api.lang, 'Value')} (${units[0].label || units[0].value})` : 'Value');
  let unitGet;
  let unitSet;
  const limits = (u) => {
    const it = units.find((x) => x.value === u);
    applyRange(mag, (it && it.validation) || magIn.validation);
  };
  if (units.length > 1) {
    const sel = h('select', {});
    for (const u of units) sel.append(h('option', { value: u.value, text: u.label || u.value }));
    api.control(sel, `${p}|unit`, 'Unit');
    sel.addEventListener('change', () => limits(sel.value));
    unitGet = () => sel.value;
    unitSet = (v) => {
      if (v && ![...sel.options].some((o) => o.value === v)) sel.append(h('option', { value: v, text: v }));
      if (v) sel.value = v;
      limits(sel.value);
    };
  } else if (units.length === 1) {
    f.suffixes.add('unit');
    unitGet = () => units[0].value;
    unitSet = () => {};
  } else {
    const u = api.control(h('input', { type: 'text', class: 'cdr-code' }), `${p}|unit`, 'Unit');
    unitGet = () => u.value.trim();
    unitSet = (v) => {
      u.value = v ?? '';
    };
  }
  limits(units.length ? units[0].value : '');
  f.get = (out) => {
    if (!mag.value.trim()) return;
    out[`${p}|magnitude`] = num(mag.value, false);
    const u = unitGet();
    if (u) out[`${p}|unit`] = u;
  };
  f.set = (vals) => {
    mag.value = hasValue(vals.magnitude) ? String(vals.magnitude) : '';
    unitSet(vals.unit);
  };
}

function count(f, api, node, p) {
  const inp = inputOf(node, '') || {};
  const el = api.control(h('input', { type: 'number', step: '1', inputmode: 'numeric' }), p);
  applyRange(el, inp.validation);
  el.step = '1';
  f.suffixes.add('magnitude');
  f.get = (out) => {
    if (el.value.trim()) out[p] = num(el.value, true);
  };
  f.set = (vals) => {
    const v = vals[''] ?? vals.magnitude;
    el.value = hasValue(v) ? String(v) : '';
  };
}

function proportion(f, api, node, p) {
  const n = api.control(h('input', { type: 'number', step: 'any' }), `${p}|numerator`, 'Numerator');
  const d = api.control(h('input', { type: 'number', step: 'any' }), `${p}|denominator`, 'Denominator');
  const kinds = (node.proportionTypes && node.proportionTypes.length ? node.proportionTypes : PROPORTION_KINDS)
    .map((k) => PROPORTION_KINDS.indexOf(k))
    .filter((i) => i >= 0);
  let kind;
  if (kinds.length === 1) {
    f.suffixes.add('type');
    kind = { get: () => String(kinds[0]), set() {} };
  } else {
    const sel = h('select', {});
    for (const k of kinds) sel.append(h('option', { value: String(k), text: PROPORTION_KINDS[k].replace('_', ' ') }));
    api.control(sel, `${p}|type`, 'Kind');
    kind = {
      get: () => sel.value,
      set(v) {
        if (hasValue(v)) sel.value = String(v);
      },
    };
  }
  f.get = (out) => {
    if (!n.value.trim() && !d.value.trim()) return;
    if (n.value.trim()) out[`${p}|numerator`] = num(n.value, false);
    if (d.value.trim()) out[`${p}|denominator`] = num(d.value, false);
    out[`${p}|type`] = Number(kind.get());
  };
  f.set = (vals) => {
    n.value = hasValue(vals.numerator) ? String(vals.numerator) : '';
    d.value = hasValue(vals.denominator) ? String(vals.denominator) : '';
    kind.set(vals.type);
  };
}

function boolean(f, api, node, p) {
  const el = api.control(h('input', { type: 'checkbox' }), p);
  // Unset until the box is ticked (or a value is loaded): then true or false.
  let state = null;
  el.addEventListener('change', () => {
    state = el.checked;
  });
  f.suffixes.add('value');
  f.get = (out) => {
    if (state !== null) out[p] = state;
  };
  f.set = (vals) => {
    const v = vals[''] ?? vals.value;
    state = typeof v === 'boolean' ? v : v === 'true' ? true : v === 'false' ? false : null;
    el.checked = state === true;
  };
}

/** A date-like value whose pattern allows leaving parts out: a text input with that pattern. */
function partialPattern(pattern, kind) {
  if (!pattern) return null;
  const date = pattern.split('T')[0];
  if (kind !== 'TIME' && !/[?X]/.test(date)) return null;
  if (kind === 'TIME') return null;
  const y = '\\d{4}';
  const m = '(0[1-9]|1[0-2])';
  const d = '(0[1-9]|[12]\\d|3[01])';
  const [, mm, dd] = date.split('-');
  let re = y;
  let hint = 'YYYY';
  if (mm && mm !== 'XX') {
    re += mm === '??' ? `(-${m}` : `-${m}`;
    hint += '-MM';
    if (dd && dd !== 'XX') {
      re += dd === '??' ? `(-${d})?` : `-${d}`;
      hint += '-DD';
    }
    if (mm === '??') re += ')?';
  }
  if (kind === 'DATETIME') {
    re += '(T\\d\\d(:\\d\\d(:\\d\\d([.,]\\d+)?)?)?(Z|[+-]\\d\\d(:?\\d\\d)?)?)?';
    hint += '[THH:MM:SS]';
  }
  return { re, hint };
}

function dateLike(kind) {
  return (f, api, node, p) => {
    const inp = inputOf(node, '') || {};
    const pattern = inp.validation && inp.validation.pattern;
    const partial = partialPattern(pattern, kind);
    f.suffixes.add('value');
    if (partial) {
      const el = api.control(h('input', { type: 'text', pattern: partial.re, placeholder: partial.hint, inputmode: 'numeric' }), p);
      f.get = (out) => {
        if (el.value.trim()) out[p] = el.value.trim();
      };
      f.set = (vals) => {
        el.value = vals[''] ?? vals.value ?? '';
      };
      return;
    }
    if (kind === 'DATE') {
      const el = api.control(h('input', { type: 'date' }), p);
      pickerValue(el, null, false);
      f.get = (out) => {
        if (el.value) out[p] = el.value;
      };
      f.set = (vals) => {
        el.value = vals[''] ?? vals.value ?? '';
      };
      return;
    }
    const noSeconds = /XX$/.test(pattern || '');
    const el = h('input', { type: kind === 'TIME' ? 'time' : 'datetime-local', step: noSeconds ? '60' : '1' });
    const zone = h('select', { class: 'cdr-zone' }, h('option', { value: '', text: say(api.lang, 'local (no zone)') }), h('option', { value: 'Z', text: 'UTC (Z)' }));
    const here = localOffset();
    if (here !== 'Z') zone.append(h('option', { value: here, text: here }));
    pickerValue(el, zone, !noSeconds);
    api.control(el, p, kind === 'TIME' ? 'Time' : 'Date and time');
    api.control(zone, null, 'Time zone');
    f.get = (out) => {
      if (el.value) out[p] = el.value;
    };
    f.set = (vals) => {
      el.value = vals[''] ?? vals.value ?? '';
    };
  };
}

const DESIGNATORS = [
  ['year', 'Y', false, 'Years'],
  ['month', 'M', false, 'Months'],
  ['week', 'W', false, 'Weeks'],
  ['day', 'D', false, 'Days'],
  ['hour', 'H', true, 'Hours'],
  ['minute', 'M', true, 'Minutes'],
  ['second', 'S', true, 'Seconds'],
];
const ISO_DURATION = '-?P(?=\\d|T\\d)(\\d+Y)?(\\d+M)?(\\d+W)?(\\d+D)?(T(?=\\d)(\\d+H)?(\\d+M)?(\\d+([.,]\\d+)?S)?)?';

function parseDuration(s) {
  const m = new RegExp(`^${ISO_DURATION}$`).exec(s || '');
  if (!m) return null;
  return { year: m[1], month: m[2], week: m[3], day: m[4], hour: m[6], minute: m[7], second: m[8] };
}

function duration(f, api, node, p) {
  const iso = api.control(h('input', { type: 'text', class: 'cdr-code', pattern: ISO_DURATION, placeholder: 'P1DT2H' }), p, 'ISO 8601');
  const parts = [];
  for (const [suffix, letter, time, label] of DESIGNATORS) {
    const inp = inputOf(node, suffix);
    if (!inp) continue;
    const el = h('input', { type: 'number', step: '1', min: '0', inputmode: 'numeric' });
    applyRange(el, inp.validation);
    el.step = suffix === 'second' ? 'any' : '1';
    api.control(el, null, label);
    parts.push({ suffix, letter, time, el });
  }
  const compose = () => {
    let date = '';
    let time = '';
    for (const x of parts) {
      const v = x.el.value.trim();
      if (!v || Number(v) === 0) continue;
      if (x.time) time += v + x.letter;
      else date += v + x.letter;
    }
    iso.value = date || time ? `P${date}${time ? `T${time}` : ''}` : '';
  };
  const spread = () => {
    const d = parseDuration(iso.value.trim());
    if (!d) return;
    for (const x of parts) x.el.value = d[x.suffix] ? parseFloat(d[x.suffix]) : '';
  };
  for (const x of parts) x.el.addEventListener('input', compose);
  iso.addEventListener('input', spread);
  f.suffixes.add('value');
  f.get = (out) => {
    if (iso.value.trim()) out[p] = iso.value.trim();
  };
  f.set = (vals) => {
    iso.value = vals[''] ?? vals.value ?? '';
    spread();
  };
}

function identifier(f, api, node, p) {
  const els = {};
  els.id = api.control(h('input', { type: 'text' }), p, 'ID');
  f.suffixes.add('id');
  for (const [s, label] of [['issuer', 'Issuer'], ['assigner', 'Assigner'], ['type', 'Type']]) {
    if (inputOf(node, s) || !node.inputs) els[s] = api.control(h('input', { type: 'text' }), `${p}|${s}`, label);
  }
  f.get = (out) => {
    if (els.id.value.trim()) out[p] = els.id.value;
    for (const s of ['issuer', 'assigner', 'type']) if (els[s] && els[s].value.trim()) out[`${p}|${s}`] = els[s].value;
  };
  f.set = (vals) => {
    els.id.value = vals[''] ?? vals.id ?? '';
    for (const s of ['issuer', 'assigner', 'type']) if (els[s]) els[s].value = vals[s] ?? '';
  };
}

function uri(f, api, node, p) {
  const el = api.control(h('input', { type: 'url' }), p);
  f.suffixes.add('value');
  f.get = (out) => {
    if (el.value.trim()) out[p] = el.value.trim();
  };
  f.set = (vals) => {
    el.value = vals[''] ?? vals.value ?? '';
  };
}

function multimedia(f, api, node, p) {
  const link = api.control(h('input', { type: 'url' }), p, 'URI');
  const file = api.control(h('input', { type: 'file' }), null, 'or a file');
  const type = api.control(h('input', { type: 'text', class: 'cdr-code', placeholder: 'image/png' }), `${p}|mediatype`, 'Media type');
  const size = api.control(h('input', { type: 'number', step: '1', min: '0' }), `${p}|size`, 'Size (bytes)');
  const alt = api.control(h('input', { type: 'text' }), `${p}|alternatetext`, 'Alternative text');
  let data = '';
  const held = api.add(h('span', { class: 'cdr-held', 'aria-live': 'polite' }));
  const show = () => {
    const bytes = Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
    held.textContent = data ? say(api.lang, 'held inline: {n} bytes', bytes) : '';
  };
  f.suffixes.add('data');
  file.addEventListener('change', () => {
    const picked = file.files && file.files[0];
    if (!picked) return;
    const reader = new FileReader();
    reader.onload = () => {
      data = String(reader.result).replace(/^data:[^,]*,/, '');
      type.value = picked.type || 'application/octet-stream';
      size.value = String(picked.size);
      show();
      file.dispatchEvent(new Event('cdr-file', { bubbles: true }));
    };
    reader.readAsDataURL(picked);
  });
  f.get = (out) => {
    if (!link.value.trim() && !data) return;
    if (link.value.trim()) out[p] = link.value.trim();
    if (data) out[`${p}|data`] = data;
    if (type.value.trim()) out[`${p}|mediatype`] = type.value.trim();
    if (size.value.trim()) out[`${p}|size`] = num(size.value, true);
    if (alt.value.trim()) out[`${p}|alternatetext`] = alt.value;
  };
  f.set = (vals) => {
    link.value = vals[''] ?? '';
    data = vals.data || '';
    show();
    type.value = vals.mediatype ?? '';
    size.value = hasValue(vals.size) ? String(vals.size) : '';
    alt.value = vals.alternatetext ?? '';
  };
}

function parsable(f, api, node, p) {
  const el = api.control(h('textarea', { rows: 3, class: 'cdr-mono' }), p, 'Text');
  const form = api.control(h('input', { type: 'text', class: 'cdr-code', placeholder: 'text/plain' }), `${p}|formalism`, 'Formalism');
  f.suffixes.add('value');
  f.get = (out) => {
    if (!el.value.trim()) return;
    out[p] = el.value;
    out[`${p}|formalism`] = form.value.trim() || 'text/plain';
  };
  f.set = (vals) => {
    el.value = vals[''] ?? vals.value ?? '';
    form.value = vals.formalism ?? '';
  };
}

/** Any other node with inputs: one control per input, by the input's type. */
function generic(f, api, node, p) {
  const ins = node.inputs && node.inputs.length ? node.inputs : [{ type: 'TEXT' }];
  const got = [];
  for (const inp of ins) {
    const key = inp.suffix ? `${p}|${inp.suffix}` : p;
    let el;
    let read;
    if (inp.type === 'BOOLEAN') {
      el = h('input', { type: 'checkbox' });
      read = () => (el.checked ? true : undefined);
    } else if (inp.type === 'INTEGER' || inp.type === 'DECIMAL') {
      el = h('input', { type: 'number' });
      applyRange(el, inp.validation);
      if (inp.type === 'INTEGER') el.step = '1';
      read = () => (el.value.trim() ? num(el.value, inp.type === 'INTEGER') : undefined);
    } else {
      el = h('input', { type: 'text' });
      read = () => (el.value.trim() ? el.value : undefined);
    }
    api.control(el, key, ins.length > 1 ? inp.suffix || 'Value' : undefined);
    got.push({ key, suffix: inp.suffix || '', el, read });
  }
  f.get = (out) => {
    for (const g of got) {
      const v = g.read();
      if (v !== undefined) out[g.key] = v;
    }
  };
  f.set = (vals) => {
    for (const g of got) {
      const v = vals[g.suffix];
      if (g.el.type === 'checkbox') g.el.checked = v === true;
      else g.el.value = hasValue(v) ? String(v) : '';
    }
  };
}

const BUILDERS = {
  DV_TEXT: text,
  DV_CODED_TEXT: coded,
  DV_ORDINAL: ordinal,
  DV_SCALE: ordinal,
  DV_QUANTITY: quantity,
  DV_COUNT: count,
  DV_PROPORTION: proportion,
  DV_BOOLEAN: boolean,
  DV_DATE: dateLike('DATE'),
  DV_DATE_TIME: dateLike('DATETIME'),
  DV_TIME: dateLike('TIME'),
  DV_DURATION: duration,
  DV_IDENTIFIER: identifier,
  DV_URI: uri,
  DV_EHR_URI: uri,
  DV_MULTIMEDIA: multimedia,
  DV_PARSABLE: parsable,
  STRING: text,
};

// ---- read-only ----

/** The text a value shows read-only. */
export function display(node, vals, lang) {
  const t = baseType(node.rmType);
  const list = ((node.inputs || []).find((i) => i.list && i.list.length) || {}).list || [];
  const label = (code) => {
    const it = list.find((i) => i.value === code);
    return it ? itemLabel(it, lang) : null;
  };
  switch (t) {
    case 'DV_CODED_TEXT':
      return label(vals.code) || vals.value || vals.code || '';
    case 'DV_ORDINAL':
    case 'DV_SCALE':
      return `${hasValue(vals.ordinal) ? `${vals.ordinal} ` : ''}${label(vals.code) || vals.value || vals.code || ''}`;
    case 'DV_QUANTITY':
      return hasValue(vals.magnitude) ? `${vals.magnitude} ${vals.unit || ''}`.trim() : '';
    case 'DV_PROPORTION':
      return Number(vals.type) === 2 ? `${vals.numerator} %` : `${vals.numerator ?? ''} / ${vals.denominator ?? ''}`;
    case 'DV_BOOLEAN':
      return vals[''] === true ? say(lang, 'Yes') : vals[''] === false ? say(lang, 'No') : '';
    case 'DV_IDENTIFIER':
      return [vals[''] ?? vals.id, vals.issuer && `(${vals.issuer})`].filter(Boolean).join(' ');
    case 'DV_DATE_TIME':
      return String(vals[''] ?? vals.value ?? '').replace('T', ' ');
    case 'DV_MULTIMEDIA':
      return vals[''] || (vals.data ? `${vals.mediatype || 'data'}, ${vals.size ?? '?'} bytes` : '');
    case 'DV_TEXT':
      return String(vals[''] ?? vals.value ?? '');
    default: {
      const v = vals[''] ?? vals.value;
      if (hasValue(v)) return String(v);
      return Object.keys(vals).sort().map((k) => vals[k]).join(' ');
    }
  }
}

function readonlyField(f, t, label, cx) {
  const out = h('span', { class: 'cdr-value' });
  f.el = h('div', { class: 'cdr-field cdr-ro', 'data-field': f.prefix }, h('span', { class: 'cdr-label', text: label }), out);
  let vals = {};
  f.get = (o) => {
    for (const s in vals) o[s ? `${f.prefix}|${s}` : f.prefix] = vals[s];
  };
  f.set = (v) => {
    vals = v;
    for (const s in v) f.suffixes.add(s);
    out.textContent = display(f.node, v, cx.lang);
  };
  f.controls = () => [];
  f.host = () => null;
  f.checks = () => [];
  return f;
}

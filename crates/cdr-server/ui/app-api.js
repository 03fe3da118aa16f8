// The openEHR REST API as the app calls it: one `request` that adds the authentication
// headers, answers a 401 by signing in and retrying, and turns failures into `ApiError`s that
// say what went wrong; the calls the app makes; and what the caller may do.

import {
  CONFIG, authHeaders, challengeScheme, currentUser, signIn,
} from '/ui/app-auth.js';

/** The API base: `<meta name="cdr-base-url">` of the page, else the server's, else `/openehr/v1`. */
export const BASE = (document.querySelector('meta[name="cdr-base-url"]')?.content
  || CONFIG.base || '/openehr/v1')
  .replace(/\/+$/, '');

export const FLAT = 'application/openehr.wt.flat+json';
export const WEB_TEMPLATE = 'application/openehr.wt+json';

/** A failed call: `status` (0 when the server was not reached) and the server's message. */
export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }

  get forbidden() {
    return this.status === 403;
  }
}

async function problemOf(res) {
  const text = await res.text().catch(() => '');
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  const detail = body && (body.message || body.detail || body.title);
  return { body, message: detail || text.slice(0, 300) || `${res.status} ${res.statusText}` };
}

/**
 * Calls the API (`path` below the base, or a full URL). Options: method, headers, body (an
 * object is sent as JSON), accept (default JSON), expect (statuses that are answers rather than
 * errors, besides 2xx; e.g. [404]). Resolves `{status, headers, body}` (body parsed as JSON
 * when it is JSON, else text, null when empty); rejects with an ApiError.
 */
export async function request(path, options = {}) {
  const { method = 'GET', accept = 'application/json', expect = [] } = options;
  let { body } = options;
  const headers = { Accept: accept, ...(options.headers || {}) };
  if (body !== undefined && typeof body !== 'string') {
    body = JSON.stringify(body);
    headers['Content-Type'] = headers['Content-Type'] || 'application/json';
  }
  const url = /^https?:/.test(path) ? path : BASE + path;
  for (;;) {
    let res;
    try {
      // Credentials are only the Authorization header made here: `omit` also keeps the
      // browser from answering a Basic challenge with its own dialog.
      res = await fetch(url, {
        method, body, headers: { ...headers, ...authHeaders() }, credentials: 'omit',
      });
    } catch (err) {
      throw new ApiError(0, `The record server could not be reached (${err.message}).`);
    }
    if (res.status === 401) {
      const { message, body: problem } = await problemOf(res);
      const scheme = challengeScheme(res.headers.get('WWW-Authenticate'));
      const hadCredentials = Object.keys(authHeaders()).length > 0;
      if (await signIn(scheme, hadCredentials ? message : '')) continue;
      const why = scheme === 'basic' || scheme === ''
        ? 'You are not signed in.'
        : `The record server asks for sign-in by ${scheme} token, which this app does not do yet.`;
      throw new ApiError(401, `${why} (${message})`, problem);
    }
    if (res.ok || expect.includes(res.status)) {
      const type = res.headers.get('Content-Type') || '';
      const text = await res.text();
      let parsed = text || null;
      if (text && /json/.test(type)) parsed = JSON.parse(text);
      return { status: res.status, headers: res.headers, body: parsed };
    }
    const { message, body: problem } = await problemOf(res);
    throw new ApiError(res.status, message, problem);
  }
}

/** The version uid an ETag names (without its quotes). */
export function etagValue(headers) {
  return (headers.get('ETag') || '').replace(/^W\//, '').replace(/^"|"$/g, '');
}

// ---- the calls the app makes -------------------------------------------------------------

/** The EHR of a subject, or null when there is none. */
export async function findEhr(subjectId, namespace) {
  const q = new URLSearchParams({ subject_id: subjectId, subject_namespace: namespace });
  const res = await request(`/ehr?${q}`, { expect: [404] });
  return res.status === 404 ? null : res.body;
}

/** Creates the EHR of a subject; resolves the new EHR. */
export async function createEhr(subjectId, namespace) {
  const status = {
    _type: 'EHR_STATUS',
    archetype_node_id: 'openEHR-EHR-EHR_STATUS.generic.v1',
    name: { value: 'EHR Status' },
    subject: {
      _type: 'PARTY_SELF',
      external_ref: {
        id: { _type: 'GENERIC_ID', value: subjectId, scheme: namespace },
        namespace,
        type: 'PERSON',
      },
    },
    is_queryable: true,
    is_modifiable: true,
  };
  const res = await request('/ehr', {
    method: 'POST', body: status, headers: { Prefer: 'return=representation' },
  });
  return res.body;
}

/** The subject (`{id, namespace}`) of an EHR, from its EHR_STATUS (null when none). */
export async function ehrSubject(ehrId) {
  const res = await request(`/ehr/${encodeURIComponent(ehrId)}/ehr_status`);
  const ref = res.body && res.body.subject && res.body.subject.external_ref;
  return ref ? { id: ref.id && ref.id.value, namespace: ref.namespace } : null;
}

const subjects = new Map();

/** Remembers the subject of an EHR found by it. */
export function rememberSubject(ehrId, subject) {
  subjects.set(ehrId, Promise.resolve(subject));
}

/** `cache`'s promise for `key`, made by `make()` the first time (forgotten if it fails). */
function memo(cache, key, make) {
  if (!cache.has(key)) {
    const p = make();
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return cache.get(key);
}

/** The subject of an EHR (asked once per page). */
export function subjectOf(ehrId) {
  return memo(subjects, ehrId, () => ehrSubject(ehrId));
}

/**
 * What a composition is (its latest version, or the version a version uid names): `{name,
 * templateId, versionUid, objectId, composer}`, from its canonical JSON.
 */
export async function compositionMeta(ehrId, id) {
  const res = await request(
    `/ehr/${encodeURIComponent(ehrId)}/composition/${encodeURIComponent(id)}`,
  );
  const c = res.body || {};
  const versionUid = etagValue(res.headers);
  return {
    name: (c.name && c.name.value) || 'Composition',
    templateId: c.archetype_details && c.archetype_details.template_id
      && c.archetype_details.template_id.value,
    versionUid,
    objectId: versionUid.split('::')[0],
    composer: c.composer && c.composer.name,
  };
}

/** Runs an ad hoc AQL query; resolves its rows. */
export async function aql(q, params) {
  const res = await request('/query/aql', {
    method: 'POST', body: { q, query_parameters: params },
  });
  return res.body.rows || [];
}

const PLANS_AQL = 'SELECT c/uid/value, c/name/value, c/archetype_details/template_id/value, '
  + 'c/context/start_time/value, v/commit_audit/committer/name, '
  + 'v/commit_audit/time_committed/value '
  + 'FROM EHR e[ehr_id/value=$ehr_id] CONTAINS VERSION v CONTAINS COMPOSITION c';

const STATUS_AQL = 'SELECT c/uid/value, a/data[at0001]/items[at0002]/value/value '
  + 'FROM EHR e[ehr_id/value=$ehr_id] CONTAINS COMPOSITION c '
  + 'CONTAINS ADMIN_ENTRY a[openEHR-EHR-ADMIN_ENTRY.cdr_plan_agreement.v0]';

/**
 * Every composition of an EHR (its latest version), newest change first: `{uid, name,
 * templateId, startTime, committer, committed, status}`; status is the plan status of the
 * plan agreement entry (cdr_plan_agreement) when the composition has one, else null.
 */
export async function listPlans(ehrId) {
  const [rows, statusRows] = await Promise.all([
    aql(PLANS_AQL, { ehr_id: ehrId }),
    aql(STATUS_AQL, { ehr_id: ehrId }).catch(() => []),
  ]);
  const statusOf = new Map();
  for (const [uidValue, status] of statusRows) if (status) statusOf.set(uidValue, status);
  return rows
    .map(([uidValue, name, templateId, startTime, committer, committed]) => ({
      uid: uidValue, name, templateId, startTime, committer, committed,
      status: statusOf.get(uidValue) || null,
    }))
    .sort((a, b) => String(b.committed).localeCompare(String(a.committed)));
}

const URGENT_AQL = 'SELECT c/uid/value, d/data[at0001]/items[at0002]/value/value, '
  + 'd/data[at0001]/items[at0005]/value/value, p/data[at0001]/items[at0002]/value/value, '
  + 'p/data[at0001]/items[at0009]/value/value '
  + 'FROM EHR e[ehr_id/value=$ehr_id] CONTAINS COMPOSITION c CONTAINS '
  + '(EVALUATION d[openEHR-EHR-EVALUATION.cdr_cpr_decision.v0] '
  + 'or EVALUATION p[openEHR-EHR-EVALUATION.cdr_care_preferences.v0])';

/**
 * The resuscitation decisions and preferred places of care and death recorded in an EHR's
 * compositions (the cdr_cpr_decision and cdr_care_preferences archetypes cdr ships), by
 * composition version uid: `Map(uid → {cpr, decided, placeOfCare, placeOfDeath})`.
 */
export async function urgentFacts(ehrId) {
  const out = new Map();
  for (const [uidValue, cpr, decided, care, death] of await aql(URGENT_AQL, { ehr_id: ehrId })) {
    const f = out.get(uidValue) || {};
    out.set(uidValue, {
      cpr: f.cpr || cpr, decided: f.decided || decided,
      placeOfCare: f.placeOfCare || care, placeOfDeath: f.placeOfDeath || death,
    });
  }
  return out;
}

/** The templates uploaded (`[{template_id, concept, …}]`). */
export async function listTemplates() {
  const res = await request('/definition/template/adl1.4');
  return res.body || [];
}

const webTemplates = new Map();

/**
 * The web template to read a composition's FLAT with, or an empty one when the template is not
 * available (its fields are then labelled from their FLAT keys).
 */
export function labelsOf(templateId) {
  return webTemplate(templateId).catch(() => ({}));
}

/** The web template of a template (kept for the page's life). */
export function webTemplate(templateId) {
  return memo(webTemplates, templateId, () => request(
    `/definition/template/adl1.4/${encodeURIComponent(templateId)}`,
    { accept: WEB_TEMPLATE },
  ).then((res) => res.body));
}

/** A composition (a version uid, or the latest of an object id) as FLAT: `{flat, versionUid}`. */
export async function compositionFlat(ehrId, id) {
  const res = await request(
    `/ehr/${encodeURIComponent(ehrId)}/composition/${encodeURIComponent(id)}`,
    { accept: FLAT },
  );
  return { flat: res.body || {}, versionUid: etagValue(res.headers) };
}

/**
 * The versions of a composition, oldest first: `{versionUid, number, changeType, committer,
 * committed, description}`.
 */
export async function revisionHistory(ehrId, objectId) {
  const res = await request(
    `/ehr/${encodeURIComponent(ehrId)}/versioned_composition/${encodeURIComponent(objectId)}/revision_history`,
  );
  const items = (res.body && res.body.items) || [];
  return items.map((item) => {
    const audit = (item.audits && item.audits[0]) || {};
    const versionUid = item.version_id && item.version_id.value;
    return {
      versionUid,
      number: Number(String(versionUid).split('::').pop()),
      changeType: audit.change_type && audit.change_type.value,
      committer: audit.committer && audit.committer.name,
      committed: audit.time_committed && audit.time_committed.value,
      description: audit.description && audit.description.value,
    };
  });
}

// ---- what the caller may do --------------------------------------------------------------

let writeProbe = null;

function probeKey() {
  return `cdr.may-write:${currentUser() || ''}`;
}

/**
 * Whether the caller's roles let them write records (create EHRs, commit compositions):
 * asked once per sign-in (kept for the browser tab) by posting a body that cannot decode,
 * which the server refuses with 403 before reading it when the roles do not allow writing,
 * and with 400 otherwise. A refusal of one record (no write grant) still shows when a save is
 * answered 403.
 */
export function mayWriteRecords() {
  const known = sessionStorage.getItem(probeKey());
  if (known !== null) return Promise.resolve(known === 'true');
  if (!writeProbe) {
    writeProbe = request('/ehr', {
      method: 'POST', body: '!', headers: { 'Content-Type': 'application/json' }, expect: [400],
    }).then(() => true, (err) => {
      if (err.forbidden) return false;
      throw err;
    }).then((may) => {
      sessionStorage.setItem(probeKey(), String(may));
      return may;
    });
    writeProbe.catch(() => null).finally(() => {
      writeProbe = null;
    });
  }
  return writeProbe;
}

const ehrProbes = new Map();

/**
 * Whether the caller may write into this EHR: `{may, reason}`. Their roles first
 * (`mayWriteRecords`); then the record's access policy (a write grant), which the server
 * checks on a composition that validates, so the template's example is validated there with
 * `dry_run=true` (nothing is stored): 200 yes, 403 no (the reason is the server's).
 */
export function mayWriteEhr(ehrId, templateId) {
  return memo(ehrProbes, ehrId, async () => {
    if (!(await mayWriteRecords())) {
      return { may: false, reason: 'your role does not allow changing records' };
    }
    if (!templateId) return { may: true, reason: '' };
    const example = await request(
      `/definition/template/adl1.4/${encodeURIComponent(templateId)}/example?format=FLAT`,
      { accept: 'application/json' },
    );
    const q = new URLSearchParams({ templateId, dry_run: 'true' });
    try {
      await request(`/ehr/${encodeURIComponent(ehrId)}/composition?${q}`, {
        method: 'POST',
        body: typeof example.body === 'string' ? example.body : JSON.stringify(example.body),
        headers: { 'Content-Type': FLAT },
        expect: [400, 422],
      });
      return { may: true, reason: '' };
    } catch (err) {
      if (err.forbidden) return { may: false, reason: err.message };
      throw err;
    }
  });
}

/** Forgets what was learnt about the caller (after signing in or out). */
export function forgetCaller() {
  writeProbe = null;
  ehrProbes.clear();
  for (let i = sessionStorage.length - 1; i >= 0; i -= 1) {
    const key = sessionStorage.key(i);
    if (key && key.startsWith('cdr.may-write:')) sessionStorage.removeItem(key);
  }
}

// A plan in its form (`<cdr-form>`): a new one, or the latest version to update, with what
// changed meanwhile when someone else saved first.

import '/ui/cdr-form.js';
import { h, replace, message, timeEl, versionNumber, objectId } from '/ui/app-dom.js';
import { authHeaders, signIn } from '/ui/app-auth.js';
import {
  BASE, compositionMeta, compositionFlat, revisionHistory, webTemplate, labelsOf, mayWriteEhr,
} from '/ui/app-api.js';
import { indexWebTemplate, diff } from '/ui/app-flat.js';
import { personCrumb } from '/ui/app-person.js';

/** A `<cdr-form>` with these attributes, sending the app's authentication headers. */
export async function makeForm(attrs) {
  await customElements.whenDefined('cdr-form');
  const form = document.createElement('cdr-form');
  form.headers = authHeaders();
  form.setAttribute('base-url', BASE);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === true) form.setAttribute(name, '');
    else if (value !== null && value !== undefined && value !== false) form.setAttribute(name, value);
  }
  return form;
}

/** A table of differences (from `diff`): field, before, after. */
export function diffTable(rows, beforeTitle, afterTitle, caption) {
  if (rows.length === 0) return h('p', {}, 'No field differs.');
  const kindText = { added: 'Added', removed: 'Removed', changed: 'Changed' };
  return h('table', { class: 'diff' },
    h('caption', {}, caption),
    h('thead', {}, h('tr', {},
      h('th', { scope: 'col' }, 'Field'),
      h('th', { scope: 'col' }, 'Change'),
      h('th', { scope: 'col' }, beforeTitle),
      h('th', { scope: 'col' }, afterTitle))),
    h('tbody', {}, rows.map((r) => h('tr', { class: `diff-${r.kind}` },
      h('th', { scope: 'row' }, r.label || r.base),
      h('td', {}, h('span', { class: `tag tag-${r.kind}` }, kindText[r.kind])),
      h('td', { class: 'before' }, r.kind === 'added' ? h('span', { class: 'none' }, '(none)') : r.before),
      h('td', { class: 'after' }, r.kind === 'removed' ? h('span', { class: 'none' }, '(none)') : r.after)))));
}

function countText(rows) {
  const n = (k) => rows.filter((r) => r.kind === k).length;
  return `${n('changed')} changed, ${n('added')} added, ${n('removed')} removed`;
}

/**
 * Wires a form's events to the page: `onSaved(detail)` after a save; a 401 asks for sign-in
 * and `recreate()`s the form; a 403 turns its save button off and says why; `onConflict` on a 412.
 */
function wire(form, status, { onSaved, onConflict, recreate }) {
  form.addEventListener('submit', (ev) => {
    if (!(ev instanceof CustomEvent)) return;
    onSaved(ev.detail || {});
  });
  form.addEventListener('conflict', (ev) => onConflict(ev.detail || {}));
  form.addEventListener('error', async (ev) => {
    if (!(ev instanceof CustomEvent)) return;
    const d = ev.detail || {};
    if (d.status === 401) {
      if (await signIn('basic', d.message)) recreate();
      else replace(status, message('error', h('p', {}, 'You are not signed in, so the plan cannot be saved.')));
    } else if (d.status === 403) {
      // Refused: the edits stay on screen (to be copied), the save button is off.
      const save = form.querySelector('button[data-action=submit]');
      if (save) save.disabled = true;
      replace(status, message('error', h('p', {},
        `You may not change this plan (${d.message || 'the server refused: 403'}), so your changes were not saved.`)));
    } else {
      replace(status, message('error', h('p', {},
        `Something failed${d.status ? ` (${d.status})` : ''}: ${d.message || 'no detail'}`)));
    }
  });
}

/** Tracks whether the user edited a form since it was loaded or saved: `{dirty, clean()}`. */
function editsOf(form, ctx) {
  const state = { dirty: false };
  const mark = (ev) => {
    // The user's own input and change events (the component's CustomEvents also come from
    // filling the controls; a switch such as the language one is no edit).
    if (ev instanceof CustomEvent) return;
    if (ev.target && ev.target.closest && ev.target.closest('[data-action]')) return;
    state.dirty = true;
  };
  form.addEventListener('input', mark);
  form.addEventListener('change', mark);
  ctx.guard(() => state.dirty && form.isConnected);
  return state;
}

/** `/ui/ehr/{ehr}/new?template=…`: a new plan of that template. */
export async function newPlanView(ctx, ehrId) {
  const templateId = ctx.params.get('template');
  const [crumb, { may, reason }] = await Promise.all([
    personCrumb(ehrId), mayWriteEhr(ehrId, templateId),
  ]);
  if (!ctx.current()) return;
  ctx.setCrumbs([crumb, ['New plan']]);
  ctx.setTitle('New plan');
  if (!templateId) {
    replace(ctx.view, h('h1', {}, 'New plan'), message('error', h('p', {}, 'No template was chosen.')),
      h('p', {}, h('a', { href: crumb[1] }, 'Back to the plans')));
    return;
  }
  if (!may) {
    replace(ctx.view, h('h1', {}, 'New plan'), message('info', h('p', {},
      `You may not start plans here: ${reason}.`)));
    return;
  }
  const wt = await webTemplate(templateId);
  const title = (wt.tree && wt.tree.localizedName) || templateId;
  ctx.setTitle(`New ${title}`);
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const holder = h('div', { class: 'form-holder' });
  const mount = async () => {
    const form = await makeForm({ 'template-id': templateId, 'ehr-id': ehrId });
    const edits = editsOf(form, ctx);
    wire(form, status, {
      onSaved: (d) => {
        edits.dirty = false;
        const id = objectId(d.versionUid || (d.etag || '').replace(/"/g, ''));
        if (!id) {
          replace(status, message('ok', h('p', {}, 'Saved.')));
          return;
        }
        ctx.navigate(`/ui/ehr/${ehrId}/plan/${id}`, {
          replace: true,
          note: message('ok', h('p', {}, `${title} saved as version ${versionNumber(d.versionUid) || 1}.`)),
        });
      },
      onConflict: () => replace(status, message('error', h('p', {}, 'The server reported a conflict.'))),
      recreate: mount,
    });
    replace(holder, form);
  };
  replace(ctx.view,
    h('h1', {}, `New plan: ${title}`),
    h('p', { class: 'meta' }, 'Template ', h('code', {}, templateId)),
    status, holder);
  await mount();
}

/** `/ui/ehr/{ehr}/plan/{id}`: the plan's latest version in its form, to update it. */
export async function planView(ctx, ehrId, id) {
  const [crumb, meta, versions] = await Promise.all([
    personCrumb(ehrId), compositionMeta(ehrId, id), revisionHistory(ehrId, id),
  ]);
  const { may, reason } = await mayWriteEhr(ehrId, meta.templateId);
  if (!ctx.current()) return;
  const lastSaved = versions.find((v) => v.versionUid === meta.versionUid) || {};
  const base = `/ui/ehr/${ehrId}/plan/${meta.objectId}`;
  ctx.setCrumbs([crumb, [meta.name]]);
  ctx.setTitle(meta.name);
  // The version the user's edits start from: what the form loaded, then each save.
  let startedFrom = meta.versionUid;
  const versionText = h('span', {}, `version ${versionNumber(startedFrom)}`);
  const status = h('div', { class: 'form-status', 'aria-live': 'polite' });
  const conflictBox = h('div', { class: 'conflict-box' });
  const holder = h('div', { class: 'form-holder' });

  const mount = async (versionUid) => {
    startedFrom = versionUid;
    replace(versionText, `version ${versionNumber(versionUid)}`);
    const form = await makeForm({
      'template-id': meta.templateId,
      'ehr-id': ehrId,
      'composition-id': versionUid,
      readonly: !may,
    });
    const edits = editsOf(form, ctx);
    wire(form, status, {
      onSaved: (d) => {
        edits.dirty = false;
        if (d.versionUid) {
          startedFrom = d.versionUid;
          replace(versionText, `version ${versionNumber(d.versionUid)}`);
        }
        replace(conflictBox);
        replace(status, message('ok', h('p', {},
          `Saved as version ${versionNumber(d.versionUid) || '(new)'}.`)));
      },
      onConflict: (d) => showConflict(d, form),
      recreate: () => mount(startedFrom),
    });
    // The form's own reload button loads the latest version: edits then start from it.
    form.addEventListener('click', (ev) => {
      if (ev.target.closest && ev.target.closest('button[data-action=reload]') && form.dataset.appLatest) {
        startedFrom = form.dataset.appLatest;
        replace(versionText, `version ${versionNumber(startedFrom)}`);
        replace(conflictBox);
      }
    });
    replace(holder, form);
  };

  const showConflict = async (detail, form) => {
    const latest = String(detail.etag || '').replace(/^W\//, '').replace(/"/g, '');
    form.dataset.appLatest = latest;
    replace(conflictBox, message('error', h('p', {},
      'Someone else saved this plan while you were editing it, so your changes were not saved. Loading what they changed…')));
    try {
      const [wt, from, to, versions] = await Promise.all([
        labelsOf(meta.templateId),
        compositionFlat(ehrId, startedFrom),
        compositionFlat(ehrId, latest || meta.objectId),
        revisionHistory(ehrId, meta.objectId),
      ]);
      const index = indexWebTemplate(wt);
      const theirs = diff(index, from.flat, to.flat);
      let mine = null;
      try {
        mine = diff(index, from.flat, form.value || {}, false);
      } catch {
        mine = null;
      }
      const last = versions.find((v) => v.versionUid === to.versionUid) || versions[versions.length - 1] || {};
      const from1 = `Version ${versionNumber(from.versionUid)} (yours)`;
      const to1 = `Version ${versionNumber(to.versionUid)} (latest)`;
      const reload = h('button', {
        type: 'button',
        class: 'primary',
        onclick: async () => {
          replace(conflictBox);
          replace(status, message('info', h('p', {}, `Loaded version ${versionNumber(to.versionUid)}.`)));
          await mount(to.versionUid);
        },
      }, `Reload version ${versionNumber(to.versionUid)} (your unsaved changes are lost)`);
      const heading = h('h2', { id: 'conflict-h', tabindex: '-1' }, 'Someone saved this plan while you were editing it');
      replace(conflictBox, h('section', { class: 'conflict', 'aria-labelledby': 'conflict-h' },
        heading,
        h('p', {}, `Version ${versionNumber(to.versionUid)} was saved by ${last.committer || 'someone'} at `,
          timeEl(last.committed), `. Your changes were not saved. What changed since version ${versionNumber(from.versionUid)} (${countText(theirs)}):`),
        diffTable(theirs, from1, to1, 'What they changed'),
        mine && mine.length ? h('details', {},
          h('summary', {}, `Your unsaved changes (${countText(mine)})`),
          diffTable(mine, from1, 'Your edits', 'Your unsaved changes')) : null,
        h('div', { class: 'actions' }, reload)));
      heading.focus();
    } catch (err) {
      replace(conflictBox, message('error', h('p', {},
        `Someone else saved this plan meanwhile; what they changed could not be loaded: ${err.message}`)));
    }
  };

  replace(ctx.view,
    h('h1', {}, meta.name),
    h('p', { class: 'meta' }, versionText, ' · template ', h('code', {}, meta.templateId)),
    lastSaved.committer ? h('p', { class: 'meta' },
      `Version ${versionNumber(meta.versionUid)} was saved by ${lastSaved.committer}, `, timeEl(lastSaved.committed), '.') : null,
    h('p', { class: 'view-links' },
      h('a', { href: `${base}/summary` }, 'Summary'), ' ',
      h('a', { href: `${base}/history` }, 'Version history')),
    may ? null : message('info', h('p', {}, `You can read this plan but not change it: ${reason}.`)),
    status, conflictBox, holder);
  await mount(meta.versionUid);
}

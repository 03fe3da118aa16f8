// form.html: one <cdr-form> filling the page, configured by the query string:
//   ?template=<id>&ehr=<ehr id>[&composition=<id>][&lang=xx][&base=<api base>]
// Without `ehr` the page creates an EHR (POST {base}/ehr) so that it works alone, and puts
// the new id into the address.
import '/ui/cdr-form.js';

const q = new URLSearchParams(location.search);
const base = (q.get('base') || '/openehr/v1').replace(/\/+$/, '');
const page = document.getElementById('page');
const status = document.getElementById('page-status');

function say(text, error) {
  status.textContent = text;
  status.classList.toggle('error', !!error);
}

function remember(name, value) {
  q.set(name, value);
  history.replaceState(null, '', `${location.pathname}?${q}`);
}

async function newEhr() {
  const res = await fetch(`${base}/ehr`, { method: 'POST', headers: { Accept: 'application/json' } });
  if (!res.ok) throw new Error(`creating an EHR answered ${res.status}`);
  const etag = (res.headers.get('ETag') || '').replace(/"/g, '');
  const loc = res.headers.get('Location') || '';
  return etag || loc.split('/').pop();
}

async function main() {
  const template = q.get('template');
  if (!template) {
    say('Give a template: form.html?template=<template id>&ehr=<ehr id>', true);
    return;
  }
  let ehr = q.get('ehr');
  if (!ehr) {
    ehr = await newEhr();
    remember('ehr', ehr);
  }
  document.title = `${template} — cdr`;
  const form = document.createElement('cdr-form');
  form.setAttribute('base-url', base);
  form.setAttribute('ehr-id', ehr);
  if (q.get('composition')) form.setAttribute('composition-id', q.get('composition'));
  if (q.get('lang')) form.setAttribute('language', q.get('lang'));
  if (q.has('readonly')) form.setAttribute('readonly', '');
  form.setAttribute('template-id', template);
  form.addEventListener('cdr-rendered', (e) => say(`EHR ${ehr} · rendered in ${e.detail.ms} ms`));
  form.addEventListener('submit', (e) => {
    remember('composition', e.detail.versionUid.split('::')[0]);
    say(`Saved version ${e.detail.versionUid}`);
  });
  form.addEventListener('error', (e) => say(e.detail.message, true));
  page.append(form);
}

main().catch((e) => say(e.message, true));

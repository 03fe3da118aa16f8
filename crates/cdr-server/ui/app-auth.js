// Who the app calls the API as: the one place that makes authentication headers.
//
// When the API answers 401, `signIn` answers the challenge. For `Basic` it asks for a user
// name and password in a dialog. For `Bearer`, when the server runs with OpenID Connect
// (`/ui/config.json` names the issuer and the app's client), it signs in with the
// authorization code flow and PKCE: the browser goes to the issuer's authorization endpoint and
// comes back to `/ui/` with a code, which is exchanged for an access token at the token
// endpoint with the code verifier. Credentials are kept for the browser tab (sessionStorage).

import { h, uid } from '/ui/app-dom.js';

const KEY = 'cdr.credentials';
const PKCE = 'cdr.pkce';

/** What the server says about itself (`/ui/config.json`: the API base, how to sign in). */
export const CONFIG = await fetch('/ui/config.json')
  .then((res) => (res.ok ? res.json() : {}))
  .catch(() => ({}));

/** Where the issuer sends the browser back to. */
const REDIRECT = `${location.origin}/ui/`;

function load() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

/** The headers that authenticate a request (none when the user has not signed in). */
export function authHeaders() {
  const c = load();
  if (c && c.scheme === 'basic' && c.token) return { Authorization: `Basic ${c.token}` };
  if (c && c.scheme === 'bearer' && c.token && Date.now() < c.expires_at) {
    return { Authorization: `Bearer ${c.token}` };
  }
  return {};
}

/** The signed-in user's name, or null. */
export function currentUser() {
  const c = load();
  return c ? c.user : null;
}

/** Forgets the credentials. */
export function signOut() {
  sessionStorage.removeItem(KEY);
}

function basicToken(user, password) {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

/** The scheme a `WWW-Authenticate` header asks for, lower case (`basic`, `bearer`, …). */
export function challengeScheme(header) {
  const m = /^\s*([A-Za-z][\w-]*)/.exec(header || '');
  return m ? m[1].toLowerCase() : '';
}

let pending = null;

/**
 * Answers a 401: for a Basic challenge, asks for a user name and password (one dialog however
 * many requests were refused at once). Resolves true when the user gave credentials (the
 * caller retries), false when they cancelled or the scheme is one the app cannot answer.
 * `problem` is the server's reason (e.g. "wrong user name or password").
 */
export function signIn(scheme, problem) {
  if (scheme === 'bearer' && CONFIG.auth === 'oidc' && CONFIG.oidc && CONFIG.oidc.client_id) {
    // The page leaves for the issuer; it comes back signed in.
    return startOidc().then(() => new Promise(() => {}), () => false);
  }
  if (scheme !== 'basic') return Promise.resolve(false);
  if (!pending) {
    pending = askBasic(problem).finally(() => {
      pending = null;
    });
  }
  return pending;
}

function askBasic(problem) {
  return new Promise((resolve) => {
    const userId = uid('login-user');
    const pwId = uid('login-password');
    const titleId = uid('login-title');
    const errorBox = h('p', { class: 'msg msg-error', role: 'alert', hidden: !problem },
      problem ? `The server refused: ${problem}` : '');
    const userInput = h('input', {
      id: userId, name: 'username', autocomplete: 'username', required: true,
      value: currentUser() || '', autocapitalize: 'none', spellcheck: 'false',
    });
    const pwInput = h('input', {
      id: pwId, name: 'password', type: 'password', autocomplete: 'current-password', required: true,
    });
    const dialog = h('dialog', { class: 'login', 'aria-labelledby': titleId });
    const finish = (ok) => {
      dialog.close();
      dialog.remove();
      resolve(ok);
    };
    const form = h('form', {
      method: 'dialog',
      onsubmit: (ev) => {
        ev.preventDefault();
        const user = userInput.value.trim();
        if (!user || !pwInput.value) return;
        sessionStorage.setItem(KEY, JSON.stringify({
          scheme: 'basic', user, token: basicToken(user, pwInput.value),
        }));
        finish(true);
        window.dispatchEvent(new Event('cdr-signed-in'));
      },
    },
    h('h2', { id: titleId }, 'Sign in'),
    h('p', {}, 'The record server asks who you are. Your name and password are kept only in this browser tab until you sign out or close it.'),
    errorBox,
    h('div', { class: 'field' }, h('label', { for: userId }, 'User name'), userInput),
    h('div', { class: 'field' }, h('label', { for: pwId }, 'Password'), pwInput),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      h('button', { type: 'button', onclick: () => finish(false) }, 'Cancel')));
    dialog.append(form);
    dialog.addEventListener('cancel', (ev) => {
      ev.preventDefault();
      finish(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    (userInput.value ? pwInput : userInput).focus();
  });
}

/** Bytes as base64url without padding. */
function base64url(bytes) {
  let bin = '';
  for (const b of new Uint8Array(bytes)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The issuer's endpoints (its discovery document). */
async function endpoints() {
  const issuer = CONFIG.oidc.issuer.replace(/\/+$/, '');
  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`the issuer's discovery document: ${res.status}`);
  return res.json();
}

/** Sends the browser to the issuer to sign in (authorization code with PKCE, S256). */
async function startOidc() {
  const found = await endpoints();
  const verifier = base64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = base64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  const state = base64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem(PKCE, JSON.stringify({
    verifier, state, token_endpoint: found.token_endpoint,
    return_to: location.pathname + location.search,
  }));
  const url = new URL(found.authorization_endpoint);
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: CONFIG.oidc.client_id,
    redirect_uri: REDIRECT,
    scope: CONFIG.oidc.scope || 'openid',
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  location.assign(url.toString());
}

/** The claims of a JWT (not checked here: the server checks the token it is sent). */
function claimsOf(jwt) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  } catch {
    return {};
  }
}

/** Back from the issuer with `code` and `state`: the code exchanged for an access token. */
async function completeOidc() {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  let saved = null;
  try {
    saved = JSON.parse(sessionStorage.getItem(PKCE) || 'null');
  } catch {
    saved = null;
  }
  if (!code || !saved || params.get('state') !== saved.state) return;
  sessionStorage.removeItem(PKCE);
  const res = await fetch(saved.token_endpoint, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT,
      client_id: CONFIG.oidc.client_id,
      code_verifier: saved.verifier,
    }).toString(),
  }).catch(() => null);
  if (res && res.ok) {
    const token = await res.json();
    const claims = claimsOf(token.access_token || '');
    sessionStorage.setItem(KEY, JSON.stringify({
      scheme: 'bearer',
      user: claims.name || claims.preferred_username || claims.sub || '',
      token: token.access_token,
      expires_at: Date.now() + 1000 * (Number(token.expires_in) || 300),
    }));
  }
  history.replaceState(null, '', saved.return_to || '/ui/');
}

if (CONFIG.auth === 'oidc' && CONFIG.oidc && CONFIG.oidc.client_id) await completeOidc();

// Starting a conversation: the POST that creates its session on our own server, and what each
// refusal means for the page. No DOM here (the page passes its fetch, URL and CSRF token), so
// every outcome is tested in node (tests/js/session-start.test.mjs).

import { describeError } from './reasons.js';

/**
 * POST `startUrl` → `{ started: {conversation, websocket, historyUrl, idleTimeout} }`, or
 * `{ failure: code, text }`: why the page cannot start, in words for the user.
 */
export async function startSession(startUrl, { fetch, href, csrfToken }) {
  let response;
  try {
    // Same origin by construction: only the path of the configured URL is used, so an http://
    // absolute URL built behind a TLS proxy cannot turn into a blocked mixed-content request.
    const url = new URL(startUrl, href);
    response = await fetch(url.pathname + url.search, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
    });
  } catch {
    return { failure: 'start_failed', text: `${describeError('start_failed')} The server can't be reached.` };
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 201) return { started: body };
  if (response.status === 429 || body.error === 'session_limit') {
    return { failure: 'session_limit', text: body.message || describeError('session_limit') };
  }
  if (response.status === 401 || response.status === 403 || response.redirected) {
    return { failure: 'logged_out', text: describeError('logged_out') };
  }
  return {
    failure: 'start_failed',
    text: body.message || `${describeError('start_failed')} (HTTP ${response.status})`,
  };
}

/** The session's WebSocket URL: `path` on the page's own host, over TLS when the page is. */
export function websocketUrl(path, location) {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${path}`;
}

/** Django's CSRF token: its cookie, else the hidden input of a form on the page. */
export function csrfToken(document) {
  const cookie = document.cookie.split('; ').find((part) => part.startsWith('csrftoken='));
  if (cookie) return decodeURIComponent(cookie.slice('csrftoken='.length));
  return document.querySelector('input[name=csrfmiddlewaretoken]')?.value ?? '';
}

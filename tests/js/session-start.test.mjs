import assert from 'node:assert/strict';
import { test } from 'node:test';

import { describeError } from '../../frontend/static/frontend/reasons.js';
import { csrfToken, startSession, websocketUrl } from '../../frontend/static/frontend/session-start.js';

const PAGE = 'https://app.example/talk/ada/';

/** A fetch that answers `status` with `body` (or no JSON) and remembers what it was asked. */
function server(status, body, { redirected = false } = {}) {
  const asked = [];
  const fetch = async (url, init) => {
    asked.push({ url, init });
    return {
      status,
      redirected,
      json: async () => {
        if (body === undefined) throw new SyntaxError('Unexpected end of JSON input');
        return body;
      },
    };
  };
  return { asked, fetch };
}

const start = (fetch, startUrl = '/api/talk/ada/start/') =>
  startSession(startUrl, { fetch, href: PAGE, csrfToken: () => 'token-1' });

test('a created session is handed to the page', async () => {
  const session = { conversation: 'c1', websocket: '/ws/sessions/c1/', historyUrl: '/history/c1/' };
  const { fetch, asked } = server(201, session);
  assert.deepEqual(await start(fetch), { started: session });
  assert.equal(asked[0].init.method, 'POST');
  assert.equal(asked[0].init.credentials, 'same-origin');
  assert.equal(asked[0].init.headers['X-CSRFToken'], 'token-1');
});

test('an absolute start URL is posted to its path on this page\'s own origin', async () => {
  const { fetch, asked } = server(201, {});
  await start(fetch, 'http://internal:8000/api/talk/ada/start/?persona=2');
  assert.equal(asked[0].url, '/api/talk/ada/start/?persona=2');
});

test('the session limit says so, in the server\'s words when it has some', async () => {
  assert.deepEqual(await start(server(429, { message: 'Two at a time.' }).fetch),
    { failure: 'session_limit', text: 'Two at a time.' });
  assert.deepEqual(await start(server(400, { error: 'session_limit' }).fetch),
    { failure: 'session_limit', text: describeError('session_limit') });
});

test('a logged-out user is told to log in again', async () => {
  for (const answer of [server(401, {}), server(403, undefined), server(200, undefined, { redirected: true })]) {
    assert.deepEqual(await start(answer.fetch), { failure: 'logged_out', text: describeError('logged_out') });
  }
});

test('other failures give the server\'s message, else the HTTP status', async () => {
  assert.deepEqual(await start(server(503, { message: 'Down for upkeep.' }).fetch),
    { failure: 'start_failed', text: 'Down for upkeep.' });
  assert.deepEqual(await start(server(500, undefined).fetch),
    { failure: 'start_failed', text: `${describeError('start_failed')} (HTTP 500)` });
});

test('an unreachable server is a start failure that says so', async () => {
  const offline = async () => { throw new TypeError('Failed to fetch'); };
  assert.deepEqual(await start(offline),
    { failure: 'start_failed', text: `${describeError('start_failed')} The server can't be reached.` });
});

test('the WebSocket goes to the page\'s own host, over TLS when the page is', () => {
  assert.equal(websocketUrl('/ws/sessions/c1/', { protocol: 'https:', host: 'app.example' }),
    'wss://app.example/ws/sessions/c1/');
  assert.equal(websocketUrl('/ws/sessions/c1/', { protocol: 'http:', host: 'localhost:8000' }),
    'ws://localhost:8000/ws/sessions/c1/');
});

test('the CSRF token comes from its cookie, else from the form', () => {
  const page = (cookie, input) => ({ cookie, querySelector: () => input });
  assert.equal(csrfToken(page('theme=dark; csrftoken=a%2Bb', null)), 'a+b');
  assert.equal(csrfToken(page('theme=dark', { value: 'from-form' })), 'from-form');
  assert.equal(csrfToken(page('', null)), '');
});

// Every ES module the live page loads imports in node: no DOM at import time, and every import
// names an export that exists (a typo there is a SyntaxError when the modules link).

import './browser-fakes.mjs';

import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';

const PAGE = new URL('../../frontend/static/frontend/', import.meta.url);
const modules = readdirSync(PAGE).filter((name) => name.endsWith('.js'));

test('the page has the modules this test expects', () => {
  for (const name of ['live.js', 'reasons.js', 'error-codes.js', 'signaling.js', 'transport.js', 'webrtc.js', 'livekit.js']) {
    assert.ok(modules.includes(name), name);
  }
});

for (const name of modules.filter((n) => n !== 'live.js')) {
  test(`${name} imports without a browser`, async () => {
    const module = await import(new URL(name, PAGE));
    assert.ok(Object.keys(module).length > 0, `${name} exports nothing`);
  });
}

test('live.js links: it stops only at its first use of the DOM', async () => {
  // live.js is the page's entry point and reads the document at once; reaching that line means
  // every module it imports was found and every name it imports exists.
  await assert.rejects(import(new URL('live.js', PAGE)), (error) => {
    assert.equal(error.name, 'ReferenceError');
    assert.match(error.message, /document is not defined/);
    return true;
  });
});

test('the LiveKit SDK live.js loads on demand is the vendored one', async () => {
  const livekit = await import(new URL('vendor/livekit-client.esm.mjs', PAGE));
  assert.equal(typeof livekit.Room, 'function');
  assert.equal(livekit.RoomEvent.TrackSubscribed, 'trackSubscribed');
});

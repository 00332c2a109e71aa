import './browser-fakes.mjs';

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LiveKitTransport } from '../../frontend/static/frontend/livekit.js';
import { createTransport } from '../../frontend/static/frontend/transport-choice.js';
import { WebRTCTransport } from '../../frontend/static/frontend/webrtc.js';
import { fakeVideo } from './browser-fakes.mjs';

test('a D-ID or engine avatar gets a WebRTC transport that signals through the socket', async () => {
  const sent = [];
  const transport = await createTransport('webrtc', fakeVideo(), (type, fields) => sent.push([type, fields]));
  assert.ok(transport instanceof WebRTCTransport);
  assert.equal(transport.kind, 'webrtc');
  transport.send('rtc.ice', { candidate: null });
  assert.deepEqual(sent, [['rtc.ice', { candidate: null }]]);
});

test('a LiveKit avatar gets a LiveKit transport built on the vendored SDK', async () => {
  const transport = await createTransport('livekit', fakeVideo(), () => {});
  assert.ok(transport instanceof LiveKitTransport);
  assert.equal(transport.kind, 'livekit');
  assert.equal(typeof transport.livekit.Room, 'function');
});

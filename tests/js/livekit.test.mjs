import './browser-fakes.mjs';

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LiveKitTransport } from '../../frontend/static/frontend/livekit.js';
import { Transport } from '../../frontend/static/frontend/transport.js';
// The real SDK's enums, so a renamed event in a livekit-client upgrade fails here.
import { RoomEvent, Track } from '../../frontend/static/frontend/vendor/livekit-client.esm.mjs';
import { fakeVideo, record, settle } from './browser-fakes.mjs';

/**
 * The part of livekit-client's Room the transport uses: on(), connect(url, token),
 * disconnect(), removeAllListeners() (https://github.com/livekit/client-sdk-js/blob/main/src/room/Room.ts).
 * No LiveKit server can run here; the test plays the server by emitting the room's events.
 */
class FakeRoom {
  static made = [];

  constructor(options) {
    this.options = options;
    this.handlers = new Map();
    this.connected = null;
    this.disconnected = false;
    this.failConnect = FakeRoom.failNext;
    FakeRoom.failNext = null;
    FakeRoom.made.push(this);
  }

  on(event, handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, []);
    this.handlers.get(event).push(handler);
    return this;
  }

  emit(event, ...args) {
    for (const handler of this.handlers.get(event) ?? []) handler(...args);
  }

  removeAllListeners() {
    this.handlers.clear();
  }

  async connect(url, token) {
    if (this.failConnect) throw this.failConnect;
    this.connected = { url, token };
    this.emit(RoomEvent.ConnectionStateChanged, 'connected');
  }

  disconnect() {
    this.disconnected = true;
    this.emit(RoomEvent.Disconnected);
  }
}

function remoteTrack(kind, frames) {
  return {
    kind,
    mediaStreamTrack: { kind, id: `${kind}-1` },
    receiver: { getStats: async () => new Map([['v', { type: 'inbound-rtp', kind: 'video', framesDecoded: frames(), bytesReceived: 0 }]]) },
  };
}

function setup() {
  FakeRoom.made = [];
  const video = fakeVideo();
  const transport = new LiveKitTransport(video, { Room: FakeRoom, RoomEvent, Track });
  const events = record(transport, ['label', 'media', 'connected', 'streaming', 'avatar-event', 'failed']);
  return { video, transport, events, room: () => FakeRoom.made.at(-1) };
}

const JOIN = { url: 'wss://heygen.livekit.example', token: 'room-token' };

test('join connects to the room HeyGen handed out, with adaptive stream and dynacast', async () => {
  const { transport, events, room } = setup();
  await transport.join(JOIN);
  assert.deepEqual(room().connected, JOIN);
  assert.deepEqual(room().options, { adaptiveStream: true, dynacast: true });
  const labels = events.filter(([n]) => n === 'label').map(([, d]) => `${d.name}=${d.value}`);
  assert.deepEqual(labels, ['iceGathering=n/a', 'ice=n/a', 'signaling=n/a', 'peer=connecting', 'peer=connected']);
  assert.ok(events.some(([n]) => n === 'connected'));
  assert.equal(transport.kind, 'livekit');
  assert.ok(transport instanceof Transport);
  transport.close();
});

test("the avatar's tracks play in the video element; video starts the frame watcher", async () => {
  const { video, transport, events, room } = setup();
  await transport.join(JOIN);
  let frames = 0;
  const audio = remoteTrack(Track.Kind.Audio, () => 0);
  room().emit(RoomEvent.TrackSubscribed, audio);
  room().emit(RoomEvent.TrackSubscribed, remoteTrack(Track.Kind.Video, () => (frames += 12)));
  room().emit(RoomEvent.TrackSubscribed, { kind: Track.Kind.Unknown, mediaStreamTrack: {} });
  assert.equal(video.srcObject, transport.remoteStream);
  assert.deepEqual(video.srcObject.getTracks().map((t) => t.kind), ['audio', 'video']);
  assert.deepEqual(events.filter(([n]) => n === 'media').map(([, d]) => d.kind), ['audio', 'video']);
  await transport.watcher.poll();
  assert.deepEqual(transport.stats(), { streaming: true, framesDecoded: 12, bytesReceived: 0 });
  assert.equal(events.filter(([n]) => n === 'streaming').at(-1)[1].streaming, true);
  room().emit(RoomEvent.TrackUnsubscribed, audio);
  assert.deepEqual(video.srcObject.getTracks().map((t) => t.kind), ['video']);
  transport.close();
});

test("HeyGen's data messages become D-ID style talking events", async () => {
  const { transport, events, room } = setup();
  await transport.join(JOIN);
  const bytes = (value) => new TextEncoder().encode(JSON.stringify(value));
  room().emit(RoomEvent.DataReceived, bytes({ type: 'avatar_start_talking', task_id: 't1' }));
  room().emit(RoomEvent.DataReceived, bytes({ type: 'user_talking_message', message: 'hi' }));
  room().emit(RoomEvent.DataReceived, bytes({ type: 'avatar_stop_talking', task_id: 't1' }));
  room().emit(RoomEvent.DataReceived, new Uint8Array([0xff, 0xfe]));
  assert.deepEqual(events.filter(([n]) => n === 'avatar-event').map(([, d]) => d.event), ['stream/started', 'stream/done']);
  transport.close();
});

test("LiveAvatar FULL mode's avatar.transcription goes to the server as the avatar's words", async () => {
  // agent-response events as https://docs.liveavatar.com/docs/full-mode/events shows them.
  const { transport, events, room } = setup();
  const said = record(transport, ['avatar-transcript']);
  await transport.join(JOIN);
  const bytes = (value) => new TextEncoder().encode(JSON.stringify(value));
  const base = { session_id: '8e2f4b6a-1c3d-4e5f-9a7b-0c1d2e3f4a5b', source_event_id: null };
  room().emit(RoomEvent.DataReceived, bytes({ ...base, event_id: 'a1', event_type: 'avatar.speak_started' }));
  room().emit(RoomEvent.DataReceived, bytes({ ...base, event_id: 'a2', event_type: 'user.transcription', text: 'What can you do?' }));
  room().emit(RoomEvent.DataReceived, bytes({ ...base, event_id: 'a3', event_type: 'avatar.transcription', text: 'I can answer questions.' }));
  room().emit(RoomEvent.DataReceived, bytes({ ...base, event_id: 'a4', event_type: 'avatar.transcription', text: '  ' }));
  room().emit(RoomEvent.DataReceived, bytes({ ...base, event_id: 'a5', event_type: 'avatar.speak_ended' }));
  assert.deepEqual(said.map(([, d]) => d.text), ['I can answer questions.']);
  assert.deepEqual(events.filter(([n]) => n === 'avatar-event').map(([, d]) => d.event), ['stream/started', 'stream/done']);
  transport.close();
});

test('a failed connect is reported as media_failed', async () => {
  const { transport, events } = setup();
  FakeRoom.failNext = new Error('could not establish signal connection');
  const warn = console.warn;
  console.warn = () => {};
  try {
    await transport.join(JOIN);
  } finally {
    console.warn = warn;
  }
  assert.deepEqual(events.filter(([n]) => n === 'failed'), [['failed', { code: 'media_failed' }]]);
  transport.close();
});

test('close leaves the room once, and a new join replaces the old room', async () => {
  const { transport, events, room } = setup();
  await transport.join(JOIN);
  const first = room();
  await transport.join({ url: 'wss://other', token: 't2' });
  assert.equal(first.disconnected, true);
  assert.equal(first.handlers.size, 0); // its late events can no longer reach the page
  assert.notEqual(room(), first);
  transport.close();
  transport.close();
  assert.equal(room().disconnected, true);
  assert.equal(transport.room, null);
  assert.equal(events.filter(([n, d]) => n === 'label' && d.value === 'closed').length, 2);
  assert.deepEqual(transport.stats(), { streaming: false, framesDecoded: 0, bytesReceived: 0 });
  await settle();
});

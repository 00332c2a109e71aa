import './browser-fakes.mjs';

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, isFinalClose, Signaling } from '../../frontend/static/frontend/signaling.js';
import { record } from './browser-fakes.mjs';

/** A WebSocket the test drives (https://developer.mozilla.org/en-US/docs/Web/API/WebSocket). */
class FakeSocket extends EventTarget {
  static made = [];

  constructor(url) {
    super();
    this.url = url;
    this.readyState = 0; // CONNECTING
    this.bufferedAmount = 0;
    this.sent = [];
    FakeSocket.made.push(this);
  }

  send(data) {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(data);
  }

  close(code = 1000, reason = '') {
    this.serverClose(code, reason);
  }

  // The other end:
  open() {
    this.readyState = 1;
    this.dispatchEvent(new Event('open'));
  }

  receive(data) {
    const event = new Event('message');
    event.data = data;
    this.dispatchEvent(event);
  }

  serverClose(code, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    const event = new Event('close');
    Object.assign(event, { code, reason });
    this.dispatchEvent(event);
  }

  messages() {
    return this.sent.filter((d) => typeof d === 'string').map((d) => JSON.parse(d));
  }
}

/** A Signaling with fake socket and clock: `timers` holds [callback, delayMs] to run by hand. */
function signaling(options = {}) {
  FakeSocket.made = [];
  const timers = [];
  const link = new Signaling('ws://test/ws/sessions/1/', {
    WebSocket: FakeSocket,
    setTimeout: (callback, ms) => timers.push([callback, ms]),
    random: () => 0.5, // no jitter
    pingEveryMs: 1e9,
    ...options,
  });
  const events = record(link, ['open', 'message', 'reconnecting', 'gave-up', 'closed']);
  return { link, timers, events, socket: () => FakeSocket.made.at(-1) };
}

test('reconnect delays double from the base up to the cap, with ±20 % jitter', () => {
  const none = () => 0.5;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, {}, none)), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoffDelay(3, { baseDelayMs: 100, maxDelayMs: 250 }, none), 250);
  assert.equal(backoffDelay(1, {}, () => 0), 800);
  assert.equal(backoffDelay(1, {}, () => 0.999999), 1200);
});

test('normal closure and the application codes are final; network drops are not', () => {
  for (const code of [1000, 4401, 4404, 4410, 4429]) assert.equal(isFinalClose(code), true, String(code));
  for (const code of [1001, 1006, 1011, 1012]) assert.equal(isFinalClose(code), false, String(code));
});

test('messages sent before the socket opens are queued and sent on open, then a ping', () => {
  const { link, socket, events } = signaling();
  link.connect();
  assert.equal(link.send('chat.text', { text: 'hi' }), false);
  assert.equal(link.sendAudio(new ArrayBuffer(1280)), false); // audio is never queued
  socket().open();
  const sent = socket().messages();
  assert.deepEqual(sent[0], { type: 'chat.text', text: 'hi' });
  assert.equal(sent[1].type, 'ping');
  assert.equal(socket().sent.length, 2);
  assert.deepEqual(events[0], ['open', { reconnected: false }]);
  assert.equal(link.send('mic.state', { on: true }), true);
  link.finish();
});

test('server messages are parsed; binary, broken and untyped frames are dropped', () => {
  const { link, socket, events } = signaling();
  link.connect();
  socket().open();
  socket().receive('{"type":"reply.delta","text":"Hi"}');
  socket().receive(new ArrayBuffer(4));
  socket().receive('{not json');
  socket().receive('{"text":"no type"}');
  socket().receive('null');
  assert.deepEqual(events.filter(([name]) => name === 'message'), [['message', { type: 'reply.delta', text: 'Hi' }]]);
  link.finish();
});

test('a pong measures the round trip', () => {
  const { link, socket } = signaling();
  link.connect();
  socket().open();
  socket().receive(JSON.stringify({ type: 'pong', t: performance.now() - 40 }));
  assert.ok(link.rttMs >= 40 && link.rttMs < 1000, String(link.rttMs));
  link.finish();
});

test('a dropped link reconnects with growing delays and says it reconnected', () => {
  const { link, socket, timers, events } = signaling();
  link.connect();
  socket().open();
  socket().serverClose(1006);
  assert.deepEqual(timers.map(([, ms]) => ms), [1000]);
  timers.shift()[0](); // the timer fires
  socket().serverClose(1006); // refused again before opening
  assert.deepEqual(timers.map(([, ms]) => ms), [2000]);
  timers.shift()[0]();
  socket().open();
  assert.deepEqual(events.filter(([n]) => n === 'open').at(-1), ['open', { reconnected: true }]);
  assert.deepEqual(
    events.filter(([n]) => n === 'reconnecting').map(([, d]) => [d.attempt, d.delayMs, d.code]),
    [[1, 1000, 1006], [2, 2000, 1006]],
  );
  assert.equal(FakeSocket.made.length, 3);
  link.finish();
});

test('a server message resets the retry count; opening alone does not', () => {
  const { link, socket, timers, events } = signaling({ maxRetries: 2 });
  link.connect();
  for (let i = 0; i < 2; i++) {
    socket().open(); // accepted, then dropped at once: still counts
    socket().serverClose(1011);
    timers.shift()[0]();
  }
  socket().open();
  socket().serverClose(1011);
  assert.deepEqual(events.at(-1), ['gave-up', { attempts: 2, code: 1011 }]);
  assert.equal(link.ended, true);
  assert.equal(timers.length, 0);

  const again = signaling({ maxRetries: 2 });
  again.link.connect();
  for (let i = 0; i < 5; i++) {
    again.socket().open();
    again.socket().receive('{"type":"session.created"}');
    again.socket().serverClose(1006);
    assert.equal(again.timers.length, 1, `drop ${i}`);
    again.timers.shift()[0]();
  }
  assert.ok(!again.events.some(([n]) => n === 'gave-up'));
  again.link.finish();
});

test('a final close code ends the link without a retry', () => {
  const { link, socket, timers, events } = signaling();
  link.connect();
  socket().open();
  link.send('session.end');
  socket().serverClose(4410, 'ended');
  assert.deepEqual(events.at(-1), ['closed', { code: 4410, reason: 'ended' }]);
  assert.equal(timers.length, 0);
  assert.equal(link.send('chat.text', { text: 'late' }), false);
  assert.deepEqual(link.queue, []); // nothing queued once ended
});

test('finish() closes quietly and never reconnects', () => {
  const { link, socket, timers } = signaling();
  link.connect();
  socket().open();
  link.finish();
  assert.equal(socket().readyState, 3);
  assert.equal(timers.length, 0);
  link.connect();
  assert.equal(FakeSocket.made.length, 1);
});

test('microphone frames are dropped while the socket is backed up', () => {
  const { link, socket } = signaling();
  link.connect();
  socket().open();
  const frame = new ArrayBuffer(1280);
  assert.equal(link.sendAudio(frame), true);
  socket().bufferedAmount = 300 * 1024;
  assert.equal(link.sendAudio(frame), false);
  assert.equal(socket().sent.filter((d) => d instanceof ArrayBuffer).length, 1);
  link.finish();
});

test('the send queue is bounded while reconnecting', () => {
  const { link } = signaling();
  link.connect();
  for (let i = 0; i < 80; i++) link.send('chat.text', { text: String(i) });
  assert.equal(link.queue.length, 50);
  link.finish();
});

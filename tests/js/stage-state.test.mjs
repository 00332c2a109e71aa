import assert from 'node:assert/strict';
import { test } from 'node:test';

import { IDLE, LIVE, READY_FALLBACK_MS, StageState } from '../../frontend/static/frontend/stage-state.js';

/** A stage with a fake clock: `timers` holds the scheduled callbacks, `changes` what was shown. */
function stage(hasIdleVideo = true) {
  const timers = new Map();
  let next = 1;
  const changes = [];
  const state = new StageState({
    hasIdleVideo,
    onChange: (shown, { ready }) => changes.push([shown, ready]),
    schedule: (run, ms) => {
      timers.set(next, { run, ms });
      return next++;
    },
    cancel: (handle) => timers.delete(handle),
  });
  const fire = () => {
    const pending = [...timers.entries()];
    timers.clear();
    for (const [, { run }] of pending) run();
  };
  return { state, timers, changes, fire };
}

test('the idle loop shows from the start, and stays while the stream warms up', () => {
  const { state, changes } = stage();
  assert.equal(state.shown, IDLE);
  assert.equal(state.handle('offer'), IDLE);
  assert.equal(state.handle('connected'), IDLE);
  assert.equal(state.ready, false);
  assert.deepEqual(changes, []);
});

test('after stream/ready the live stream shows while the avatar talks, then idle again', () => {
  const { state, changes } = stage();
  state.handle('connected');
  assert.equal(state.handle('stream/ready'), IDLE); // ready, but nobody talks yet
  assert.equal(state.readyBy, 'stream/ready');
  assert.equal(state.handle('stream/started'), LIVE);
  assert.equal(state.handle('stream/done'), IDLE);
  assert.equal(state.handle('stream/started'), LIVE);
  assert.equal(state.handle('stream/error'), IDLE);
  assert.deepEqual(changes, [[IDLE, true], [LIVE, true], [IDLE, true], [LIVE, true], [IDLE, true]]);
});

test('talking before the stream is ready stays hidden until it is', () => {
  const { state } = stage();
  state.handle('connected');
  assert.equal(state.handle('stream/started'), IDLE);
  assert.equal(state.handle('stream/ready'), LIVE);
});

test('without stream/ready the stream is ready 5 s after the peer connected', () => {
  const { state, timers, changes, fire } = stage();
  state.handle('offer');
  assert.equal(timers.size, 0, 'the fallback waits for the connection, as D-ID\'s demo does');
  state.handle('connected');
  state.handle('connected'); // a second report starts no second timer
  assert.deepEqual([...timers.values()].map((t) => t.ms), [READY_FALLBACK_MS]);
  assert.equal(READY_FALLBACK_MS, 5000);
  state.handle('stream/started');
  assert.equal(state.shown, IDLE);
  fire();
  assert.equal(state.ready, true);
  assert.equal(state.readyBy, 'fallback');
  assert.equal(state.shown, LIVE);
  assert.deepEqual(changes, [[LIVE, true]]);
});

test('stream/ready in time cancels the fallback', () => {
  const { state, timers } = stage();
  state.handle('connected');
  assert.equal(timers.size, 1);
  state.handle('stream/ready');
  assert.equal(timers.size, 0);
  assert.equal(state.readyBy, 'stream/ready');
  state.handle('connected'); // ready already: nothing to wait for
  assert.equal(timers.size, 0);
});

test('a new stream (reconnect) or the end goes back to idle and not ready', () => {
  for (const event of ['offer', 'closed']) {
    const { state, timers, changes } = stage();
    state.handle('connected');
    state.handle('stream/ready');
    state.handle('stream/started');
    assert.equal(state.handle(event), IDLE, event);
    assert.equal(state.ready, false, event);
    assert.equal(state.readyBy, null, event);
    assert.equal(timers.size, 0, event);
    assert.deepEqual(changes.at(-1), [IDLE, false], event);
    // The next stream's talk waits for that stream's own readiness.
    state.handle('stream/started');
    assert.equal(state.shown, IDLE, event);
  }
});

test('a fallback that fires after the stream was replaced does not make the new one ready', () => {
  const { state, timers } = stage();
  state.handle('connected');
  const [[, stale]] = [...timers.entries()];
  state.handle('offer'); // cancels it; a timer that fires anyway (a race) must not count
  assert.equal(timers.size, 0);
  stale.run();
  assert.equal(state.ready, false);
  state.handle('stream/started');
  assert.equal(state.shown, IDLE);
});

test('an avatar without an idle loop always shows the live stream', () => {
  const { state, changes } = stage(false);
  assert.equal(state.shown, LIVE);
  for (const event of ['offer', 'connected', 'stream/started', 'stream/ready', 'stream/done', 'closed']) {
    assert.equal(state.handle(event), LIVE, event);
  }
  // Only readiness changed, never what is shown.
  assert.deepEqual(changes, [[LIVE, true], [LIVE, false]]);
});

test('unknown events change nothing', () => {
  const { state, changes } = stage();
  for (const event of ['stream/unknown', '', undefined, 'rtc.offer']) assert.equal(state.handle(event), IDLE);
  assert.deepEqual(changes, []);
});

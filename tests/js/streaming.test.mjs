import assert from 'node:assert/strict';
import { test } from 'node:test';

import { inboundVideo, parseStreamEvent, StreamWatcher } from '../../frontend/static/frontend/streaming.js';

// D-ID's data channel: "stream/started" or "stream/started:{json}", as D-ID's own demo parses it
// (onStreamEvent in https://github.com/de-id/live-streaming-demo/blob/main/streaming-client-api.js).
test("D-ID's data channel messages, bare and with a JSON payload", () => {
  assert.deepEqual(parseStreamEvent('stream/started'), { event: 'stream/started', payload: null, raw: 'stream/started' });
  const parsed = parseStreamEvent('stream/done:{"metadata":{"videoId":"v1"}}');
  assert.deepEqual(parsed, { event: 'stream/done', payload: { metadata: { videoId: 'v1' } }, raw: 'stream/done' });
  assert.equal(parseStreamEvent('  stream/ready  ').event, 'stream/ready');
  assert.deepEqual(parseStreamEvent('stream/error:not json').payload, 'not json');
});

test("D-ID's newer stream-video names and HeyGen's talking events become D-ID's", () => {
  assert.equal(parseStreamEvent('stream-video/started').event, 'stream/started');
  assert.equal(parseStreamEvent('stream-video/rejected').event, 'stream/error');
  // HeyGen's LiveKit data messages are JSON objects with a `type`.
  const heygen = parseStreamEvent('{"type":"avatar_start_talking","task_id":"t1"}');
  assert.deepEqual(heygen, { event: 'stream/started', payload: { type: 'avatar_start_talking', task_id: 't1' }, raw: 'avatar_start_talking' });
  assert.equal(parseStreamEvent('{"type":"avatar_stop_talking"}').event, 'stream/done');
  assert.equal(parseStreamEvent('{"event":"stream/ready"}').event, 'stream/ready');
});

test('anything else is ignored, never thrown', () => {
  for (const text of ['', 'hello', 'stream/unknown', '{"type":"user_start"}', '{broken', '{}', 'null', null, 42, undefined]) {
    assert.equal(parseStreamEvent(text), null, String(text));
  }
});

function report(entries) {
  return new Map(entries.map((entry, i) => [`id${i}`, entry]));
}

test('inbound video totals add up every video stream and skip audio and outbound', () => {
  const stats = report([
    { type: 'inbound-rtp', kind: 'video', framesDecoded: 10, bytesReceived: 1000 },
    { type: 'inbound-rtp', mediaType: 'video', framesDecoded: 5 }, // older Chrome: mediaType
    { type: 'inbound-rtp', kind: 'audio', bytesReceived: 999 },
    { type: 'outbound-rtp', kind: 'video', framesDecoded: 99, bytesReceived: 99 },
  ]);
  assert.deepEqual(inboundVideo(stats), { framesDecoded: 15, bytesReceived: 1000 });
  assert.deepEqual(inboundVideo(report([])), { framesDecoded: 0, bytesReceived: 0 });
});

test('streaming turns on when frames grow and off only after quiet ticks', async () => {
  const frames = [0, 3, 6, 6, 6, 6, 9];
  let call = 0;
  const getStats = async () => report([{ type: 'inbound-rtp', kind: 'video', framesDecoded: frames[call++], bytesReceived: 0 }]);
  const ticks = [];
  const watcher = new StreamWatcher(getStats, (tick) => ticks.push(tick), { everyMs: 1e9, quietTicks: 2 });
  watcher.start(); // the interval never fires in this test: we drive poll() ourselves
  for (let i = 0; i < frames.length; i++) await watcher.poll();
  watcher.stop();
  assert.deepEqual(ticks.map((t) => t.streaming), [false, true, true, true, false, false, true]);
  assert.deepEqual(ticks.map((t) => t.changed), [false, true, false, false, true, false, true]);
  assert.deepEqual(watcher.stats(), { streaming: true, framesDecoded: 9, bytesReceived: 0 });
});

test('a stats failure or a stopped watcher reports nothing', async () => {
  const ticks = [];
  const failing = new StreamWatcher(async () => { throw new Error('closed'); }, (t) => ticks.push(t), { everyMs: 1e9 });
  failing.start();
  await failing.poll();
  failing.stop();
  const stopped = new StreamWatcher(async () => report([]), (t) => ticks.push(t));
  await stopped.poll(); // never started
  assert.deepEqual(ticks, []);
});

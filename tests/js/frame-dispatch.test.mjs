import assert from 'node:assert/strict';
import { test } from 'node:test';

import { MEDIA_MESSAGES, frameDispatcher } from '../../frontend/static/frontend/frame-dispatch.js';

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test('media frames wait for the one before them; other frames do not', async () => {
  const done = [];
  let answerOffer;
  const dispatch = frameDispatcher({
    'rtc.offer': () => new Promise((resolve) => { answerOffer = () => { done.push('offer'); resolve(); }; }),
    'rtc.ice': () => done.push('ice'),
    'reply.delta': () => done.push('delta'),
  });
  dispatch({ type: 'rtc.offer' });
  dispatch({ type: 'rtc.ice' });
  dispatch({ type: 'reply.delta' });
  await tick();
  assert.deepEqual(done, ['delta']); // the candidate waits for the offer's answer
  answerOffer();
  await tick();
  assert.deepEqual(done, ['delta', 'offer', 'ice']);
});

test('a failed handler is reported and the frames after it still run', async () => {
  const done = [];
  const errors = [];
  const dispatch = frameDispatcher({
    'livekit.join': async () => { throw new Error('no room'); },
    'livekit.data': () => done.push('data'),
  }, { onError: (type, error) => errors.push([type, error.message]) });
  dispatch({ type: 'livekit.join' });
  dispatch({ type: 'livekit.data' });
  dispatch({ type: 'no.such.frame' });
  await tick();
  assert.deepEqual(errors, [['livekit.join', 'no room']]);
  assert.deepEqual(done, ['data']);
});

test('the media frames are the offer, candidates, room joins and commands, and stream renewal', () => {
  assert.deepEqual([...MEDIA_MESSAGES].sort(),
    ['livekit.data', 'livekit.join', 'rtc.ice', 'rtc.offer', 'stream.replacing']);
});

test('a media handler that throws at once does not stop the media frames after it', async () => {
  const done = [];
  const errors = [];
  const dispatch = frameDispatcher({
    'stream.replacing': () => { throw new Error('sync failure'); },
    'rtc.offer': () => done.push('offer'),
  }, { onError: (type, error) => errors.push([type, error.message]) });
  dispatch({ type: 'stream.replacing' });
  dispatch({ type: 'rtc.offer' });
  await tick();
  await tick();
  assert.deepEqual(errors, [['stream.replacing', 'sync failure']]);
  assert.deepEqual(done, ['offer']);
});

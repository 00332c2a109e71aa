import assert from 'node:assert/strict';
import { test } from 'node:test';

import { playWithSound } from '../../frontend/static/frontend/autoplay.js';

/** A video whose play() fails with `errors` in turn (null: plays), recording its muted state. */
function fakeVideo(...errors) {
  const video = {
    muted: true,
    plays: [],
    async play() {
      video.plays.push(video.muted ? 'muted' : 'sound');
      const error = errors.shift();
      if (error) throw Object.assign(new Error(error), { name: error });
    },
  };
  return video;
}

test('the video plays with sound when the browser allows it', async () => {
  const video = fakeVideo(null);
  const shown = [];
  await playWithSound(video, { unmuteOffered: false, showUnmute: (show) => shown.push(show) });
  assert.deepEqual(video.plays, ['sound']);
  assert.deepEqual(shown, [false]);
});

test('blocked sound: the video plays muted and the unmute button is offered', async () => {
  const video = fakeVideo('NotAllowedError', null);
  const shown = [];
  await playWithSound(video, { unmuteOffered: false, showUnmute: (show) => shown.push(show) });
  assert.deepEqual(video.plays, ['sound', 'muted']);
  assert.equal(video.muted, true);
  assert.deepEqual(shown, [true]);
});

test('once sound is blocked, new media keeps playing muted until the click', async () => {
  const video = fakeVideo(null);
  const shown = [];
  await playWithSound(video, { unmuteOffered: true, showUnmute: (show) => shown.push(show) });
  assert.deepEqual(video.plays, ['muted']);
  assert.deepEqual(shown, []);
});

test('a play() superseded by newer media changes nothing', async () => {
  const video = fakeVideo('AbortError');
  const shown = [];
  await playWithSound(video, { unmuteOffered: false, showUnmute: (show) => shown.push(show) });
  assert.deepEqual(video.plays, ['sound']);
  assert.deepEqual(shown, []);
});

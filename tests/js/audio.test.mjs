import assert from 'node:assert/strict';
import { test } from 'node:test';

import { meterLevel, micErrorCode } from '../../frontend/static/frontend/mic.js';
import { Resampler, toPcm16 } from '../../frontend/static/frontend/mic-worklet.js';

function sine(frequency, rate, count, amplitude = 0.5) {
  return Float32Array.from({ length: count }, (_, i) => amplitude * Math.sin((2 * Math.PI * frequency * i) / rate));
}

function rms(samples) {
  return Math.sqrt(samples.reduce((sum, s) => sum + s * s, 0) / samples.length);
}

/** Feed `input` in browser-sized blocks of 128 samples (an AudioWorklet render quantum). */
function resampleInBlocks(resampler, input) {
  const parts = [];
  for (let i = 0; i < input.length; i += 128) parts.push(resampler.process(input.subarray(i, i + 128)));
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Amplitude of `frequency` in `samples` (one DFT bin). */
function amplitudeAt(samples, frequency, rate) {
  let re = 0;
  let im = 0;
  for (let i = 0; i < samples.length; i++) {
    re += samples[i] * Math.cos((2 * Math.PI * frequency * i) / rate);
    im -= samples[i] * Math.sin((2 * Math.PI * frequency * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / samples.length;
}

for (const rate of [48000, 44100]) {
  test(`${rate} Hz becomes 16 kHz: one output sample per ${rate / 16000} input, however it is chunked`, () => {
    const second = sine(440, rate, rate);
    const out = resampleInBlocks(new Resampler(rate), second);
    // The kernel's look-ahead holds back a few samples until more input arrives.
    assert.ok(out.length <= 16000 && out.length > 16000 - 20, `got ${out.length}`);
    const whole = new Resampler(rate).process(second);
    assert.equal(whole.length, out.length);
    for (let i = 0; i < out.length; i += 997) assert.ok(Math.abs(whole[i] - out[i]) < 1e-6);
  });

  test(`${rate} Hz: tones up to 5 kHz keep their level, tones above 9 kHz are removed`, () => {
    for (const frequency of [300, 3000, 5000]) {
      const out = resampleInBlocks(new Resampler(rate), sine(frequency, rate, rate)).subarray(200);
      const amplitude = amplitudeAt(out, frequency, 16000);
      assert.ok(Math.abs(amplitude - 0.5) < 0.01, `${frequency} Hz came out at ${amplitude}`);
    }
    // Dropping samples would fold these back into the speech band (12 kHz onto 4 kHz).
    for (const frequency of [9000, 12000, 20000]) {
      const out = resampleInBlocks(new Resampler(rate), sine(frequency, rate, rate)).subarray(200);
      assert.ok(rms(out) < 0.005, `${frequency} Hz leaked through at rms ${rms(out)}`);
    }
  });
}

test('a constant level passes at unity gain', () => {
  const out = new Resampler(48000).process(new Float32Array(4800).fill(0.25)).subarray(100);
  for (const s of out) assert.ok(Math.abs(s - 0.25) < 1e-3, String(s));
});

test('16 kHz input is passed through unchanged', () => {
  const input = sine(440, 16000, 640);
  assert.deepEqual(new Resampler(16000).process(input), input);
});

test('PCM16 conversion scales and clips instead of wrapping', () => {
  assert.deepEqual([...toPcm16(Float32Array.from([0, 1, -1, 0.5, -0.5, 2, -2]))], [0, 32767, -32768, 16383, -16384, 32767, -32768]);
  const target = new Int16Array(4);
  toPcm16(Float32Array.from([1, -1]), target, 2);
  assert.deepEqual([...target], [0, 0, 32767, -32768]);
});

test('the meter maps -60..0 dBFS onto 0..1', () => {
  assert.equal(meterLevel(0), 0);
  assert.equal(meterLevel(undefined), 0);
  assert.equal(meterLevel(1), 1);
  assert.equal(meterLevel(0.001), 0); // -60 dBFS
  assert.equal(meterLevel(0.0001), 0); // below the floor
  assert.ok(Math.abs(meterLevel(0.0316) - 0.5) < 0.01); // -30 dBFS: half way
  assert.equal(meterLevel(2), 1); // clipped input never overflows the bar
});

test("getUserMedia's failures map to the microphone codes", () => {
  // https://developer.mozilla.org/en-US/docs/Web/API/MediaDevices/getUserMedia#exceptions
  assert.equal(micErrorCode({ name: 'NotAllowedError' }), 'mic_denied');
  assert.equal(micErrorCode({ name: 'NotFoundError' }), 'mic_missing');
  assert.equal(micErrorCode({ name: 'NotReadableError' }), 'mic_failed');
  assert.equal(micErrorCode(new Error('worklet failed to load')), 'mic_failed');
  assert.equal(micErrorCode(undefined), 'mic_failed');
});

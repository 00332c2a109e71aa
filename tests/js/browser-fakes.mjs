// Just enough of the browser for the page's modules under node: only what they touch, each fake
// doing what the real API documents. Import this before the module under test.

// Node 18 (Debian bookworm's nodejs) has EventTarget but no global CustomEvent.
globalThis.CustomEvent ??= class CustomEvent extends Event {
  constructor(type, { detail = null, ...options } = {}) {
    super(type, options);
    this.detail = detail;
  }
};

/** MediaStream: a set of tracks (https://developer.mozilla.org/en-US/docs/Web/API/MediaStream). */
export class FakeMediaStream {
  constructor() {
    this.tracks = [];
  }

  addTrack(track) {
    if (!this.tracks.includes(track)) this.tracks.push(track);
  }

  removeTrack(track) {
    this.tracks = this.tracks.filter((t) => t !== track);
  }

  getTracks() {
    return [...this.tracks];
  }
}
globalThis.MediaStream ??= FakeMediaStream;

/** A <video> element as the transports use it: only `srcObject`. */
export function fakeVideo() {
  return { srcObject: null };
}

/** Collects the events an EventTarget dispatches: [[name, detail], ...]. */
export function record(target, names) {
  const seen = [];
  for (const name of names) target.addEventListener(name, (event) => seen.push([name, event.detail]));
  return seen;
}

/** Lets pending promise callbacks (and one macrotask) run. */
export const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

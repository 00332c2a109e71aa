"""The recorder injected into LivePersona's pages before their scripts run, and what its
recordings mean: shared by the browser tests (tests/e2e) and the browser benchmark (bench/).

The recorder timestamps (epoch ms) every server message, data-channel event from the avatar
service, avatar state change, interim transcript, click, microphone level change and Content
Security Policy violation, and, once started (`MOUTH_PROBE`), compares the mouth region of
consecutive decoded video frames. `speech_ends` and `speaking_spans` read its recordings and
need no browser.
"""

from __future__ import annotations

import time

from playwright.sync_api import BrowserContext, Page

from avatars.demo import DEMO_SIZE

RECORDER = """
(() => {
  const log = window.__recorded = {
    messages: [], channel: [], avatar: [], interim: [], clicks: [], mouth: [], mic: [], csp: [],
  };
  // Whatever the page's policy blocks (a script, a style, a socket, a worklet), from the start.
  document.addEventListener('securitypolicyviolation', (event) => {
    log.csp.push({
      t: Date.now(), directive: event.effectiveDirective, blocked: event.blockedURI,
      source: event.sourceFile, line: event.lineNumber, sample: event.sample,
    });
  });
  // Every peer connection the page makes, so a test can read what Chromium decoded (getStats).
  // (A hook on a method, not a replaced constructor: the page's own code stays untouched.)
  log.peers = [];
  if (window.RTCPeerConnection) {
    const proto = window.RTCPeerConnection.prototype;
    const nativeSetRemote = proto.setRemoteDescription;
    proto.setRemoteDescription = function (...args) {
      if (!log.peers.includes(this)) log.peers.push(this);
      return nativeSetRemote.apply(this, args);
    };
  }
  // The microphone as the page hears it: when it opened and, if asked (mic_level=True), when its
  // level crossed -40 dBFS (an analyser of our own on the page's track, read every 10 ms).
  const media = navigator.mediaDevices;
  if (media && media.getUserMedia) {
    const nativeGetUserMedia = media.getUserMedia.bind(media);
    media.getUserMedia = async (constraints) => {
      const stream = await nativeGetUserMedia(constraints);
      if (constraints && constraints.audio) log.mic.push({ t: Date.now(), event: 'open' });
      if (constraints && constraints.audio && window.__recordMicLevel) {
        const context = new AudioContext();
        const analyser = context.createAnalyser();
        analyser.fftSize = 512;
        context.createMediaStreamSource(stream).connect(analyser);
        const samples = new Float32Array(analyser.fftSize);
        let loud = false;
        setInterval(() => {
          analyser.getFloatTimeDomainData(samples);
          let sum = 0;
          for (const sample of samples) sum += sample * sample;
          const now = Math.sqrt(sum / samples.length) > 0.01;
          if (now !== loud) {
            loud = now;
            log.mic.push({ t: Date.now(), event: loud ? 'loud' : 'quiet' });
          }
        }, 10);
      }
      return stream;
    };
  }
  const listen = (channel) => channel.addEventListener('message', (event) => {
    if (typeof event.data === 'string') log.channel.push({ t: Date.now(), text: event.data });
  });
  const NativePeer = window.RTCPeerConnection;
  window.RTCPeerConnection = class extends NativePeer {
    constructor(...args) {
      super(...args);
      this.addEventListener('datachannel', (event) => listen(event.channel));
    }
    createDataChannel(...args) {
      const channel = super.createDataChannel(...args);
      listen(channel);
      return channel;
    }
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', (event) => {
        if (typeof event.data !== 'string') return;
        try {
          const message = JSON.parse(event.data);
          log.messages.push({ t: Date.now(), type: message.type, data: message });
        } catch {}
      });
    }
  };
  document.addEventListener('click', (event) => {
    log.clicks.push({ t: Date.now(), id: event.target.id || event.target.tagName });
  }, true);
  document.addEventListener('DOMContentLoaded', () => {
    const live = document.getElementById('live');
    const interim = document.getElementById('interim');
    if (!live) return;
    log.avatar.push({ t: Date.now(), state: live.dataset.avatarState });
    new MutationObserver(() => {
      const state = live.dataset.avatarState;
      if (log.avatar[log.avatar.length - 1].state !== state) log.avatar.push({ t: Date.now(), state });
    }).observe(live, { attributes: true, attributeFilter: ['data-avatar-state'] });
    new MutationObserver(() => {
      if (!interim.hidden && interim.textContent) log.interim.push({ t: Date.now(), text: interim.textContent });
    }).observe(interim, { attributes: true, childList: true, characterData: true, subtree: true });
  });
})();
"""

MOUTH_PROBE = """
([x0, y0, x1, y1, size]) => {
  const MOVED = 16; // grey levels: more than video-coding noise, less than lips moving
  const video = document.getElementById('avatar-video');
  const live = document.getElementById('live');
  let previous = null;
  const record = (t, gray) => {
    if (previous && previous.length === gray.length) {
      let sum = 0;
      let moved = 0;
      for (let i = 0; i < gray.length; i++) {
        const d = Math.abs(gray[i] - previous[i]);
        sum += d;
        if (d > MOVED) moved += 1;
      }
      window.__recorded.mouth.push({ t, diff: sum / gray.length, moved: moved / gray.length, state: live.dataset.avatarState });
    }
    previous = gray;
  };
  // The decoded frame's luma plane, only the mouth box copied out (WebCodecs): drawing every
  // frame onto a canvas and reading it back cost the renderer a fifth of a core, taken from
  // the product being measured on the same two cores.
  const Y_SCALE = 255 / 219; // video-range luma to full-range grey levels
  const fromLuma = async (frame) => {
    const scale = frame.displayWidth / size;
    const even = (v) => 2 * Math.floor(v / 2);
    const rect = { x: even(x0 * scale), y: even(y0 * scale), width: even((x1 - x0) * scale + 1), height: even((y1 - y0) * scale + 1) };
    const buffer = new Uint8Array(frame.allocationSize({ rect }));
    const [luma] = await frame.copyTo(buffer, { rect });
    const gray = new Float32Array(rect.width * rect.height);
    for (let row = 0; row < rect.height; row++) {
      for (let col = 0; col < rect.width; col++) {
        gray[row * rect.width + col] = buffer[luma.offset + row * luma.stride + col] * Y_SCALE;
      }
    }
    return gray;
  };
  const w = x1 - x0, h = y1 - y0;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  const fromCanvas = () => {
    const scale = video.videoWidth / size;
    context.drawImage(video, x0 * scale, y0 * scale, w * scale, h * scale, 0, 0, w, h);
    const rgba = context.getImageData(0, 0, w, h).data;
    const gray = new Float32Array(w * h);
    for (let i = 0; i < gray.length; i++) {
      gray[i] = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    }
    return gray;
  };
  let busy = false;
  const sample = async () => {
    if (!video.videoWidth || busy) return;
    const t = Date.now();
    busy = true;
    try {
      let frame = null;
      try { frame = 'VideoFrame' in window ? new VideoFrame(video) : null; } catch (e) { frame = null; }
      const planar = frame && ['I420', 'I420A', 'NV12'].includes(frame.format);
      const gray = planar ? await fromLuma(frame) : fromCanvas();
      if (frame) frame.close();
      record(t, gray);
    } finally {
      busy = false;
    }
  };
  if ('requestVideoFrameCallback' in video) {
    const onFrame = () => { sample(); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    setInterval(sample, 40);
  }
}
"""

def now_ms() -> float:
    return time.time() * 1000


def watch_csp_console(context: BrowserContext) -> list[str]:
    """Console errors about the Content Security Policy, from every page of `context`, collected
    as they come (Chromium reports each blocked load there too)."""
    found: list[str] = []

    def on_console(message) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            found.append(message.text)

    context.on("console", on_console)
    return found


def csp_violations(page: Page) -> list[dict]:
    """`securitypolicyviolation` events the recorder saw on the document `page` shows now."""
    return page.evaluate("() => (window.__recorded && window.__recorded.csp) || []")


def mouth_box(png: bytes, size: int = DEMO_SIZE, pad: int = 0) -> tuple[int, int, int, int]:
    """Where the engine draws the mouth of the face in this photo at `size` px, found the way
    the engine finds it (same face finder, same renderer), widened by `pad` px for the head's
    slight sway."""
    # The engine's renderer loads OpenCV: only callers that measure the mouth pay for it.
    from engine.face import FaceFinder, decode_image
    from engine.renderer import TalkingHeadRenderer

    rgb = decode_image(png)
    x0, y0, x1, y1 = TalkingHeadRenderer(rgb, FaceFinder().find_in_image(rgb), size).face_regions()["mouth"]
    return max(0, x0 - pad), max(0, y0 - pad), min(size, x1 + pad), min(size, y1 + pad)


def speech_ends(events: list[dict], *, now: float, pause_ms: float = 600) -> list[float]:
    """The end of each utterance in the microphone's `loud`/`quiet` events: a turn to quiet
    followed by at least `pause_ms` of quiet (shorter gaps are between words), by `now` for
    the last one."""
    levels = [e for e in events if e["event"] in ("loud", "quiet")]
    ends = []
    for index, event in enumerate(levels):
        if event["event"] != "quiet":
            continue
        following = levels[index + 1]["t"] if index + 1 < len(levels) else now
        if following - event["t"] >= pause_ms:
            ends.append(event["t"])
    return ends


def speaking_spans(states: list[dict], *, trim_ms: float = 300) -> list[tuple[float, float]]:
    """(start, end) epoch ms of each time the avatar was speaking, trimmed at both ends."""
    spans, start = [], None
    for change in states:
        if change["state"] == "speaking" and start is None:
            start = change["t"]
        elif change["state"] != "speaking" and start is not None:
            if change["t"] - start > 2 * trim_ms:
                spans.append((start + trim_ms, change["t"] - trim_ms))
            start = None
    return spans

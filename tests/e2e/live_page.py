"""What a person does and sees on LivePersona's pages, for Playwright tests and benchmarks.

The live page is observed from the outside only: the product's test hooks
(`window.livePersona`, `data-*` attributes, connection labels) plus a recorder injected before
the page's scripts run, which timestamps (epoch ms) every server message, data-channel event
from the avatar service, avatar state change, interim transcript and click, and, once started,
compares the mouth region of consecutive decoded video frames.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, expect

RECORDER = """
(() => {
  const log = window.__e2e = { messages: [], channel: [], avatar: [], interim: [], clicks: [], mouth: [] };
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
  const w = x1 - x0, h = y1 - y0;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const context = canvas.getContext('2d', { willReadFrequently: true });
  const live = document.getElementById('live');
  let previous = null;
  const sample = () => {
    if (!video.videoWidth) return;
    const scale = video.videoWidth / size;
    context.drawImage(video, x0 * scale, y0 * scale, w * scale, h * scale, 0, 0, w, h);
    const rgba = context.getImageData(0, 0, w, h).data;
    const gray = new Float32Array(w * h);
    for (let i = 0; i < gray.length; i++) {
      gray[i] = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    }
    if (previous) {
      let sum = 0;
      let moved = 0;
      for (let i = 0; i < gray.length; i++) {
        const d = Math.abs(gray[i] - previous[i]);
        sum += d;
        if (d > MOVED) moved += 1;
      }
      window.__e2e.mouth.push({
        t: Date.now(), diff: sum / gray.length, moved: moved / gray.length, state: live.dataset.avatarState,
      });
    }
    previous = gray;
  };
  if ('requestVideoFrameCallback' in video) {
    const onFrame = () => { sample(); video.requestVideoFrameCallback(onFrame); };
    video.requestVideoFrameCallback(onFrame);
  } else {
    setInterval(sample, 40);
  }
}
"""

CONNECTED_LABELS = {
    "ice-status-label": ("connected", "completed"),
    "peer-status-label": ("connected",),
    "signaling-status-label": ("stable",),
    "streaming-status-label": ("streaming",),
}


def now_ms() -> float:
    return time.time() * 1000


def new_context(browser, base_url: str) -> BrowserContext:
    """A browser profile of its own (cookies, storage) with the recorder installed."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    context.add_init_script(RECORDER)
    context.set_default_timeout(30_000)
    return context


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/")  # the picker sends strangers to the login form
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Who do you want to talk to?")


class LivePage:
    """The live page of one conversation, as its user sees and drives it."""

    def __init__(self, page: Page) -> None:
        self.page = page

    @classmethod
    def open_from_picker(cls, page: Page, slug: str) -> LivePage:
        page.click(f'a[data-avatar="{slug}"]')
        page.wait_for_url(f"**/talk/{slug}/")
        return cls(page)

    # What the page shows -------------------------------------------------------------------

    @property
    def conversation(self) -> str:
        return self.page.locator("#live").get_attribute("data-conversation") or ""

    def labels(self) -> dict[str, str]:
        return self.page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('.connection [id$=-status-label]')]
                 .map((label) => [label.id, label.dataset.state]))"""
        )

    def wait_connected(self, timeout: float = 60) -> dict[str, str]:
        """Until ICE, peer, signaling and streaming labels say the media is flowing."""
        deadline = time.monotonic() + timeout
        while True:
            labels = self.labels()
            if all(labels.get(k) in ok for k, ok in CONNECTED_LABELS.items()):
                return labels
            if time.monotonic() > deadline:
                raise AssertionError(f"not connected after {timeout}s: {labels}, "
                                     f"status {self.page.locator('#status').text_content()!r}")
            self.page.wait_for_timeout(200)

    def stats(self) -> dict:
        return self.page.evaluate("() => window.livePersona.stats()")

    def video(self) -> dict:
        return self.page.evaluate(
            """() => { const v = document.getElementById('avatar-video');
                       return { width: v.videoWidth, height: v.videoHeight, paused: v.paused,
                                time: v.currentTime }; }"""
        )

    def transcript(self) -> dict:
        return self.page.evaluate("() => window.livePersona.transcript()")

    def messages(self, kind: str | None = None, since: float = 0) -> list[dict]:
        recorded = self.page.evaluate("() => window.__e2e.messages")
        return [m for m in recorded if (kind is None or m["type"] == kind) and m["t"] >= since]

    def stream_events(self, event: str, since: float = 0) -> list[dict]:
        """The avatar service's data-channel events ("stream/done:{json}") as {t, event, payload}."""
        found = []
        for message in self.page.evaluate("() => window.__e2e.channel"):
            name, _, payload = message["text"].partition(":")
            if name == event and message["t"] >= since:
                found.append({"t": message["t"], "event": name,
                              "payload": json.loads(payload) if payload.startswith("{") else {}})
        return found

    def wait_stream_event(self, event: str, *, since: float = 0, timeout: float = 60,
                          where=lambda payload: True) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for found in self.stream_events(event, since):
                if where(found["payload"]):
                    return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {event} within {timeout}s")
            self.page.wait_for_timeout(50)

    def avatar_states(self) -> list[dict]:
        return self.page.evaluate("() => window.__e2e.avatar")

    def interims(self) -> list[dict]:
        return self.page.evaluate("() => window.__e2e.interim")

    def clicks(self, element_id: str) -> list[float]:
        return [c["t"] for c in self.page.evaluate("() => window.__e2e.clicks") if c["id"] == element_id]

    # Waiting -------------------------------------------------------------------------------

    def wait_message(self, kind: str, *, since: float = 0, timeout: float = 60,
                     where=lambda message: True) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for message in self.messages(kind, since):
                if where(message["data"]):
                    return message
            if time.monotonic() > deadline:
                seen = [m["type"] for m in self.messages(since=since)]
                raise AssertionError(f"no {kind} within {timeout}s; saw {seen}")
            self.page.wait_for_timeout(100)

    def wait_avatar_idle(self, *, since: float, timeout: float = 60) -> float:
        """When (epoch ms, not before `since`) the avatar was idle: `since` itself if it already
        was then (say, between two sentences), else when it next turned idle."""
        deadline = time.monotonic() + timeout
        while True:
            states = self.avatar_states()
            before = [c for c in states if c["t"] <= since]
            if before and before[-1]["state"] == "idle":
                return since
            for change in states:
                if change["state"] == "idle" and change["t"] > since:
                    return change["t"]
            if time.monotonic() > deadline:
                raise AssertionError(f"avatar not idle within {timeout}s: {states}")
            self.page.wait_for_timeout(50)

    def wait_avatar(self, state: str, *, since: float = 0, timeout: float = 60) -> float:
        """When (epoch ms) the avatar badge turned to `state` after `since`."""
        deadline = time.monotonic() + timeout
        while True:
            for change in self.avatar_states():
                if change["state"] == state and change["t"] >= since:
                    return change["t"]
            if time.monotonic() > deadline:
                raise AssertionError(f"avatar not {state} within {timeout}s: {self.avatar_states()}")
            self.page.wait_for_timeout(50)

    # Doing ---------------------------------------------------------------------------------

    def say_in_writing(self, text: str) -> float:
        self.page.fill("#chat-input", text)
        self.page.click("#send-button")
        return self.clicks("send-button")[-1]

    def click(self, element_id: str) -> float:
        """Click a control; when (epoch ms) the page saw the click."""
        self.page.click(f"#{element_id}")
        return self.clicks(element_id)[-1]

    def start_mouth_probe(self, box: tuple[int, int, int, int], size: int) -> None:
        self.page.evaluate(MOUTH_PROBE, [*box, size])

    def mouth(self, start: float, end: float, state: str | None = None) -> list[dict]:
        """Mouth-box changes between consecutive frames decoded in [start, end): `diff` the mean
        absolute grey-level change, `moved` the share of pixels that changed a lot."""
        samples = self.page.evaluate("() => window.__e2e.mouth")
        return [s for s in samples
                if start <= s["t"] < end and (state is None or s["state"] == state)]

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), full_page=True)


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

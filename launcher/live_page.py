"""The live page of one conversation, observed from the outside only: the product's test hooks
(`window.livePersona`, `data-*` attributes, connection labels) plus what the recorder
(`launcher.page_recorder`) saw. Shared by the browser tests (tests/e2e) and bench/.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from playwright.sync_api import Page

from launcher.page_recorder import MOUTH_PROBE, csp_violations, now_ms, speech_ends

CONNECTED_LABELS = {
    "ice-status-label": ("connected", "completed"),
    "peer-status-label": ("connected",),
    "signaling-status-label": ("stable",),
    "streaming-status-label": ("streaming",),
}


class LivePage:
    """The live page of one conversation, as its user sees and drives it."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.csp_console: list[str] = []  # see watch_csp_console

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

    def audio_received(self) -> dict:
        """What Chromium decoded of the avatar's audio so far (inbound-rtp, summed over the
        page's peer connections): samples, their energy, and samples it had to conceal."""
        return self.page.evaluate("""async () => {
          const total = { samples: 0, energy: 0, concealed: 0, packets: 0 };
          for (const pc of window.__recorded.peers || []) {
            if (pc.connectionState === 'closed') continue;
            (await pc.getStats()).forEach((r) => {
              if (r.type !== 'inbound-rtp' || r.kind !== 'audio') return;
              total.samples += r.totalSamplesReceived || 0;
              total.energy += r.totalAudioEnergy || 0;
              total.concealed += r.concealedSamples || 0;
              total.packets += r.packetsReceived || 0;
            });
          }
          return total;
        }""")

    def video(self) -> dict:
        return self.page.evaluate(
            """() => { const v = document.getElementById('avatar-video');
                       return { width: v.videoWidth, height: v.videoHeight, paused: v.paused,
                                time: v.currentTime }; }"""
        )

    def transcript(self) -> dict:
        return self.page.evaluate("() => window.livePersona.transcript()")

    def messages(self, kind: str | None = None, since: float = 0) -> list[dict]:
        recorded = self.page.evaluate("() => window.__recorded.messages")
        return [m for m in recorded if (kind is None or m["type"] == kind) and m["t"] >= since]

    def stream_events(self, event: str, since: float = 0) -> list[dict]:
        """The avatar service's data-channel events ("stream/done:{json}") as {t, event, payload}."""
        found = []
        for message in self.page.evaluate("() => window.__recorded.channel"):
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
        return self.page.evaluate("() => window.__recorded.avatar")

    def interims(self) -> list[dict]:
        return self.page.evaluate("() => window.__recorded.interim")

    def microphone(self) -> list[dict]:
        """{t, event}: `open`, then `loud` / `quiet` each time the level crossed -40 dBFS."""
        return self.page.evaluate("() => window.__recorded.mic")

    def speech_ends(self, *, pause_ms: float = 600) -> list[float]:
        """When (epoch ms) each utterance the microphone carried ended (see `speech_ends`)."""
        return speech_ends(self.microphone(), now=now_ms(), pause_ms=pause_ms)

    def csp_violations(self) -> list:
        """What the policy blocked: `securitypolicyviolation` events of the page now shown, and
        CSP errors on the console since the browser context opened. Empty when all is well."""
        return [*csp_violations(self.page), *self.csp_console]

    def clicks(self, element_id: str) -> list[float]:
        return [c["t"] for c in self.page.evaluate("() => window.__recorded.clicks") if c["id"] == element_id]

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
        samples = self.page.evaluate("() => window.__recorded.mouth")
        return [s for s in samples
                if start <= s["t"] < end and (state is None or s["state"] == state)]

    def screenshot(self, path: Path) -> None:
        self.page.screenshot(path=str(path), full_page=True)

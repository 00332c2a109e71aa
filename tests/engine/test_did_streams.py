"""The local engine's D-ID streams: a real WebRTC viewer sees and hears the avatar talk.

The viewer is an aiortc peer on the answering side, the role a browser plays with D-ID: it takes
the offer, answers, trickles its ICE candidates through `/ice`, opens `JanusDataChannel` like
D-ID's demos and SDK, and decodes what it receives. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import wave
from urllib.parse import unquote

import cv2
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.codecs.vpx import VpxPayloadDescriptor
from aiortc.mediastreams import MediaStreamError

from engine import memory_trim
from engine.config import EngineConfig
from engine.did_registry import STREAMS
from engine.idle_loop import is_keyframe
from engine.loopback_ice import use_loopback_host_candidates
from engine.server import LocalAvatars, build_app

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]

KEY = "test-engine-key"
AUTH = {"Authorization": f"Basic {KEY}"}
SIDE = 256  # small frames keep the encoders cheap on a shared 2-core machine


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def media(tmp_path, astronaut):
    root = tmp_path / "media"
    (root / "faces").mkdir(parents=True)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    assert ok
    (root / "faces" / "astronaut.jpg").write_bytes(jpeg.tobytes())
    gradient = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    (root / "faces" / "wall.png").write_bytes(cv2.imencode(".png", gradient)[1].tobytes())
    (root / "faces" / "notes.txt").write_text("not a photo at all")
    (root / "voice").mkdir()
    seconds = np.arange(int(1.2 * 16000)) / 16000
    tone = (12000 * np.sin(2 * np.pi * 220 * seconds)).astype("<i2")
    with wave.open(str(root / "voice" / "tone.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(tone.tobytes())
    return root


def serve(media, speaker, modules: tuple[str, ...] = ()) -> TestClient:
    """The engine on a free loopback port: D-ID streams (plus other modules if asked)."""
    config = EngineConfig(api_key=KEY, media_root=media, default_resolution=SIDE)
    app = build_app(config, avatars=LocalAvatars(config, speaker=speaker), optional_modules=modules)
    return TestClient(TestServer(app, host="127.0.0.1"))


@pytest.fixture
async def engine(media, speaker):
    async with serve(media, speaker) as client:
        yield client


@pytest.fixture
async def viewers():
    made: list[Viewer] = []

    def make(**options) -> Viewer:
        made.append(Viewer(**options))
        return made[-1]

    yield make
    for viewer in made:
        await viewer.close()


# -- a D-ID client ----------------------------------------------------------------------------------


class Viewer:
    """The answering side of a D-ID stream, as a browser would be."""

    def __init__(self, *, own_channel: bool = True) -> None:
        use_loopback_host_candidates()
        self.pc = RTCPeerConnection()
        self.events: asyncio.Queue[tuple[str, dict]] = asyncio.Queue()
        self.video_sizes: list[tuple[int, int]] = []
        self.loud_audio_frames = 0
        self.video_ssrc: int | None = None
        self._pullers: list[asyncio.Task] = []
        self.channel = None
        if own_channel:  # what D-ID's demos and SDK do: their own channel, same label
            self._listen(self.pc.createDataChannel("JanusDataChannel"))
        else:
            self.pc.on("datachannel", self._listen)
        self.pc.on(
            "track", lambda track: self._pullers.append(asyncio.create_task(self._pull(track)))
        )

    def _listen(self, channel) -> None:
        self.channel = channel

        @channel.on("message")
        def on_message(message: str) -> None:
            event, _, data = message.partition(":")
            self.events.put_nowait((event, json.loads(data) if data.startswith("{") else data))

    async def _pull(self, track) -> None:
        try:
            while True:
                frame = await track.recv()
                if track.kind == "video":
                    self.video_sizes.append((frame.width, frame.height))
                elif np.abs(frame.to_ndarray()).max() > 1000:
                    self.loud_audio_frames += 1
        except MediaStreamError:
            pass

    async def connect(
        self, client: TestClient, base: str, stream: dict, *, ice_first: bool = False
    ) -> None:
        """Answer the offer and POST the answer without candidates; trickle them via /ice.

        With `ice_first`, the candidates go out before the answer, as an agents client that
        trickles in parallel with the SDP may do.
        """
        await self.pc.setRemoteDescription(RTCSessionDescription(**stream["offer"]))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        lines = self.pc.localDescription.sdp.splitlines()
        trickled = ("a=candidate:", "a=end-of-candidates")  # a trickling browser sends neither
        bare = "\r\n".join(line for line in lines if not line.startswith(trickled)) + "\r\n"
        session_id = stream["session_id"]
        candidates = [
            {"candidate": line[2:], "sdpMid": "0", "sdpMLineIndex": 0, "session_id": session_id}
            for line in lines
            if line.startswith("a=candidate:")
        ]
        assert candidates
        posts = [
            (f"{base}/{stream['id']}/ice", body)
            for body in [*candidates, {"session_id": session_id}]  # then end-of-candidates
        ]
        answer = {"answer": {"type": "answer", "sdp": bare}, "session_id": session_id}
        sdp_post = (f"{base}/{stream['id']}/sdp", answer)
        for path, body in [*posts, sdp_post] if ice_first else [sdp_post, *posts]:
            response = await client.post(path, json=body, headers=AUTH)
            assert response.status == 200, await response.text()
        await wait_for(lambda: self.pc.connectionState == "connected", 15)

    async def next_event(self, within: float = 15) -> tuple[str, dict]:
        return await asyncio.wait_for(self.events.get(), within)

    async def event(self, name: str, within: float = 15) -> dict:
        """Skip to the next event of this name."""
        deadline = time.monotonic() + within
        while True:
            event, data = await self.next_event(max(0.01, deadline - time.monotonic()))
            if event == name:
                return data

    async def close(self) -> None:
        for task in self._pullers:
            task.cancel()
        await self.pc.close()


async def wait_for(condition, within: float) -> None:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


async def create(client: TestClient, base: str = "/talks/streams", **body) -> dict:
    if base == "/talks/streams":
        body.setdefault("source_url", "/media/faces/astronaut.jpg")
    response = await client.post(base, json=body, headers=AUTH)
    assert response.status == 201, await response.text()
    return await response.json()


async def talk(
    client: TestClient, base: str, stream: dict, text: str = "", *, script: dict | None = None
) -> dict:
    script = script or {"type": "text", "input": text}
    body = {"script": script, "session_id": stream["session_id"]}
    response = await client.post(f"{base}/{stream['id']}", json=body, headers=AUTH)
    assert response.status == 200, await response.text()
    return await response.json()


async def live_ids(client: TestClient) -> set[str]:
    response = await client.get("/streams", headers=AUTH)
    return {s["id"] for s in (await response.json())["streams"]}


# -- the happy path -------------------------------------------------------------------------------


async def test_a_viewer_sees_and_hears_the_avatar_speak_a_text_talk(engine, viewers,
                                                                   monkeypatch):
    trims = []
    monkeypatch.setattr(memory_trim, "trim_soon", lambda: trims.append(1))
    stream = await create(engine, output_resolution=SIDE, compatibility_mode="on")
    assert stream["id"].startswith("strm_")
    assert stream["session_id"].startswith("AWSALB=")
    assert stream["offer"]["type"] == "offer"
    assert stream["ice_servers"] == []
    sdp = stream["offer"]["sdp"]
    assert "m=audio" in sdp and "m=video" in sdp and "m=application" in sdp

    viewer = viewers()
    await viewer.connect(engine, "/talks/streams", stream)
    assert (await viewer.next_event())[0] == "stream/ready"

    said = await talk(engine, "/talks/streams", stream, "Hello! I am your local avatar.")
    assert said["status"] == "started"
    assert said["session_id"] == stream["session_id"]

    started = await viewer.next_event()
    assert started[0] == "stream/started"
    assert started[1]["metadata"]["videoId"] == said["video_id"]
    loud_before = viewer.loud_audio_frames
    done = await viewer.next_event()
    assert done[0] == "stream/done"
    assert done[1]["video_id"] == said["video_id"]
    assert 1.0 < done[1]["duration"] < 6.0
    assert viewer.loud_audio_frames - loud_before > 25  # half a second of speech or more

    assert len(viewer.video_sizes) > 25
    assert set(viewer.video_sizes) == {(SIDE, SIDE)}
    assert trims == [1]  # the talk's freed memory goes back (engine/memory_trim.py)
    # Engine-only: the talk's trace, step by step after its POST, in the streams listing.
    listing = await (await engine.get("/talks/streams", headers=AUTH)).json()
    (traced,) = listing["streams"][0]["talks"]
    assert traced["talk_id"] == said["video_id"]
    # (first_frame too, unless a starved video track skipped every frame of the speech)
    assert {"received", "queued", "tts_first_audio", "first_audio_out"} <= traced["ms"].keys()

    recording = {"type": "audio", "audio_url": "/media/voice/tone.wav"}
    said = await talk(engine, "/talks/streams", stream, script=recording)
    assert (await viewer.next_event())[1]["video_id"] == said["video_id"]
    done = await viewer.event("stream/done")
    assert done["duration"] == pytest.approx(1.2, abs=0.1)

    not_audio = {"type": "audio", "audio_url": "/media/faces/notes.txt"}
    body = {"script": not_audio, "session_id": stream["session_id"]}
    refused = await engine.post(f"/talks/streams/{stream['id']}", json=body, headers=AUTH)
    assert refused.status == 400
    assert "not audio" in (await refused.json())["description"]


async def test_talks_are_spoken_in_order_and_two_streams_stay_independent(engine, viewers):
    talks = await create(engine, output_resolution=SIDE, compatibility_mode="on")
    clips = await create(
        engine, "/clips/streams", presenter_id="local-astronaut-close", compatibility_mode="off"
    )
    dids_viewer, listener = viewers(), viewers(own_channel=False)
    await dids_viewer.connect(engine, "/talks/streams", talks)
    await listener.connect(engine, "/clips/streams", clips)
    await dids_viewer.event("stream/ready")
    await listener.event("stream/ready")

    first = await talk(engine, "/talks/streams", talks, "One.")
    second = await talk(engine, "/talks/streams", talks, "Two.")
    heard = [await dids_viewer.next_event() for _ in range(4)]
    assert [(e, d["video_id"]) for e, d in heard] == [
        ("stream/started", first["video_id"]),
        ("stream/done", first["video_id"]),
        ("stream/started", second["video_id"]),
        ("stream/done", second["video_id"]),
    ]
    assert listener.events.empty()  # the other stream heard nothing of it
    frames = len(listener.video_sizes)

    response = await engine.delete(
        f"/talks/streams/{talks['id']}", json={"session_id": talks["session_id"]}, headers=AUTH
    )
    assert response.status == 200
    await wait_for(lambda: dids_viewer.pc.connectionState == "closed", 10)
    assert await live_ids(engine) == {clips["id"]}

    said = await talk(engine, "/clips/streams", clips, "Still here.")
    assert (await listener.event("stream/done"))["video_id"] == said["video_id"]
    assert len(listener.video_sizes) > frames
    assert listener.pc.connectionState == "connected"


async def test_barge_in_cuts_the_current_talk_short(engine, viewers):
    stream = await create(engine, output_resolution=SIDE)
    viewer = viewers()
    await viewer.connect(engine, "/talks/streams", stream)
    long_text = "This is a long answer that goes on and on. " * 6
    said = await talk(engine, "/talks/streams", stream, long_text)
    await viewer.event("stream/started")
    # D-ID's SDK interrupts a fluent stream with a message on the data channel.
    viewer.channel.send(json.dumps({"type": "stream/interrupt", "videoId": said["video_id"]}))
    done = await viewer.event("stream/done", within=5)
    assert done["video_id"] == said["video_id"]
    assert done["interrupted"] is True
    assert done["duration"] < 3  # of a talk some fifteen seconds long

    # The engine also takes the interrupt over REST (an extension D-ID's API does not have).
    said = await talk(engine, "/talks/streams", stream, long_text)
    await viewer.event("stream/started")
    path, body = f"/talks/streams/{stream['id']}/interrupt", {"session_id": stream["session_id"]}
    assert (await engine.post(path, json=body, headers=AUTH)).status == 200
    done = await viewer.event("stream/done", within=5)
    assert (done["video_id"], done["interrupted"]) == (said["video_id"], True)


def record_vp8_frames(viewer: Viewer) -> list[tuple[float, int, bool]]:
    """(arrival, RTP timestamp, keyframe?) of every VP8 frame reaching the viewer from now on,
    read from each frame's first RTP packet (RFC 7741 §4.2 descriptor, RFC 6386 §9.1 tag)."""
    (receiver,) = [r for r in viewer.pc.getReceivers() if r.track.kind == "video"]
    seen: list[tuple[float, int, bool]] = []
    handle = receiver._handle_rtp_packet

    async def recording(packet, arrival_time_ms: int) -> None:
        descriptor, data = VpxPayloadDescriptor.parse(packet.payload)
        if descriptor.partition_start and descriptor.partition_id == 0:
            seen.append((time.monotonic(), packet.timestamp, is_keyframe(data)))
            viewer.video_ssrc = packet.ssrc
        await handle(packet, arrival_time_ms)

    receiver._handle_rtp_packet = recording
    return seen


async def test_an_idle_stream_replays_its_face_loop_and_talks_start_on_a_keyframe(
    engine, viewers
):
    stream = await create(engine, output_resolution=SIDE, compatibility_mode="on")
    viewer = viewers()
    await viewer.connect(engine, "/talks/streams", stream)
    player = engine.server.app[STREAMS].sessions[stream["id"]].player
    await wait_for(lambda: player.video.idle is not None and player.video.idle.playing, 30)
    frames = record_vp8_frames(viewer)
    decoded = len(viewer.video_sizes)
    await asyncio.sleep(1.0)
    assert len(frames) >= 20 and len(viewer.video_sizes) - decoded >= 20  # sent and decoded
    assert player.video.idle.playing

    posted = time.monotonic()
    await talk(engine, "/talks/streams", stream, "Hello there, nice to meet you.")
    await viewer.event("stream/started")
    started = time.monotonic()
    loud = viewer.loud_audio_frames
    await viewer.event("stream/done")
    ended = time.monotonic()
    assert viewer.loud_audio_frames - loud > 25
    await asyncio.sleep(0.5)
    # Live frames begin with a keyframe as the voice starts (a loaded machine may delay it)...
    assert any(key and posted < at <= started + 0.3 for at, _, key in frames)
    # ...and back to the loop, which starts with its own, once the talk is done.
    assert any(key and ended - 0.2 < at <= ended + 1.0 for at, _, key in frames)
    assert player.video.idle.playing

    # A receiver that lost a frame asks for a keyframe (RTCP PLI): the loop starts over.
    (receiver,) = [r for r in viewer.pc.getReceivers() if r.track.kind == "video"]
    asked = time.monotonic()
    await receiver._send_rtcp_pli(viewer.video_ssrc)
    await wait_for(lambda: any(key and at > asked for at, _, key in frames), 2)
    stamps = [stamp for _, stamp, _ in frames]
    assert all(0 < (b - a) % 2**32 < 90000 for a, b in zip(stamps, stamps[1:], strict=False))
    assert len(viewer.video_sizes) - decoded >= len(frames) - 3  # every one of them decodes


async def test_an_agents_stream_answers_a_chat_message_with_the_engines_llm(
    media, speaker, viewers
):
    async with serve(media, speaker, modules=("groq_chat",)) as engine:
        base = "/agents/local-astronaut/streams"
        stream = await create(engine, base, stream_warmup=True)
        viewer = viewers()
        await viewer.connect(engine, base, stream, ice_first=True)
        connected = time.monotonic()
        await viewer.event("stream/ready")
        assert time.monotonic() - connected > 0.5  # the warm-up plays before "ready"

        chat = await engine.post("/agents/local-astronaut/chat", json={}, headers=AUTH)
        assert chat.status == 201
        message = {
            "streamId": stream["id"],
            "sessionId": stream["session_id"],
            "messages": [
                {"role": "user", "content": "Say hello in five words.", "created_at": "03/03/2024"}
            ],
        }
        chat_path = f"/agents/local-astronaut/chat/{(await chat.json())['id']}"
        response = await engine.post(chat_path, json=message, headers=AUTH)
        assert response.status == 200, await response.text()
        reply = (await response.json())["result"]
        assert reply.strip()
        assert unquote(await viewer.event("chat/answer")) == reply
        assert (await viewer.event("stream/started", within=30))["video_id"]
        await viewer.event("stream/done", within=60)


# -- the stream's life ------------------------------------------------------------------------------


async def test_a_silent_stream_closes_itself_after_its_session_timeout(engine):
    stream = await create(engine, session_timeout=0.5)
    assert stream["id"] in await live_ids(engine)
    await asyncio.sleep(1.5)
    assert stream["id"] not in await live_ids(engine)
    body = {"answer": {"type": "answer", "sdp": "v=0\r\n"}, "session_id": stream["session_id"]}
    gone = await engine.post(f"/talks/streams/{stream['id']}/sdp", json=body, headers=AUTH)
    assert gone.status == 404


async def test_the_engine_lists_live_streams_by_service(engine):
    talks = await create(engine)
    clips = await create(engine, "/clips/streams", presenter_id="local-astronaut")
    listing = await (await engine.get("/talks/streams", headers=AUTH)).json()
    assert [s["id"] for s in listing["streams"]] == [talks["id"]]
    entry = listing["streams"][0]
    assert entry["state"] == "offered"
    assert {"created_at", "last_activity"} <= entry.keys()
    assert await live_ids(engine) == {talks["id"], clips["id"]}
    health = await (await engine.get("/health")).json()
    assert health["status"] == "ok" and health["streams"] == 2


@pytest.mark.parametrize(
    ("mode", "codec", "absent"),
    [("on", "VP8", "H264"), ("off", "H264", "VP8"), ("auto", "VP8", "H264")],
)
async def test_compatibility_mode_picks_the_offered_video_codec(engine, mode, codec, absent):
    stream = await create(engine, compatibility_mode=mode)
    video = stream["offer"]["sdp"].split("m=video", 1)[1].split("m=application", 1)[0]
    assert f" {codec}/90000" in video
    assert f" {absent}/90000" not in video


# -- refusals -----------------------------------------------------------------------------------------


async def test_requests_without_the_api_key_are_refused(engine):
    for headers in ({}, {"Authorization": "Basic wrong-key"}, {"Authorization": f"Bearer {KEY}"}):
        response = await engine.post(
            "/talks/streams", json={"source_url": "/media/faces/astronaut.jpg"}, headers=headers
        )
        assert response.status == 401
        body = await response.json()
        assert body["kind"] == "AuthorizationError" and body["message"] == "Unauthorized"
    assert await live_ids(engine) == set()


async def test_unknown_streams_are_not_found_on_every_endpoint(engine):
    stream = await create(engine)
    body = {"session_id": stream["session_id"]}
    for method, path in [
        ("POST", "/talks/streams/strm_nope/sdp"),
        ("POST", "/talks/streams/strm_nope/ice"),
        ("POST", "/talks/streams/strm_nope"),
        ("DELETE", "/talks/streams/strm_nope"),
        ("DELETE", f"/clips/streams/{stream['id']}"),  # a talks stream is not a clips stream
    ]:
        response = await engine.request(method, path, json=body, headers=AUTH)
        assert response.status == 404, (method, path)
        assert (await response.json())["kind"] == "NotFoundError"


async def test_talking_before_the_sdp_answer_is_refused_clearly(engine):
    stream = await create(engine)
    said = {"script": {"type": "text", "input": "Too early"}, "session_id": stream["session_id"]}
    response = await engine.post(f"/talks/streams/{stream['id']}", json=said, headers=AUTH)
    assert response.status == 400
    assert "answer" in (await response.json())["description"]


async def test_a_malformed_sdp_answer_is_refused_and_the_stream_can_still_be_answered(
    engine, viewers
):
    stream = await create(engine)
    path, session_id = f"/talks/streams/{stream['id']}/sdp", stream["session_id"]
    for answer in (
        {"type": "answer", "sdp": "hello"},
        {
            "type": "answer",
            "sdp": "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n",
        },
        {"type": "offer", "sdp": stream["offer"]["sdp"]},
        "v=0",
    ):
        response = await engine.post(
            path, json={"answer": answer, "session_id": session_id}, headers=AUTH
        )
        assert response.status == 400, answer
        assert (await response.json())["kind"] == "ValidationError"
    not_json = await engine.post(
        path, data="{", headers={**AUTH, "Content-Type": "application/json"}
    )
    assert not_json.status == 400

    viewer = viewers()
    await viewer.connect(engine, "/talks/streams", stream)  # still answerable after the bad tries
    again = await engine.post(
        path,
        json={
            "answer": {"type": "answer", "sdp": viewer.pc.localDescription.sdp},
            "session_id": session_id,
        },
        headers=AUTH,
    )
    assert again.status == 400  # answered once is answered


async def test_malformed_ice_candidates_are_refused(engine):
    stream = await create(engine)
    path, session_id = f"/talks/streams/{stream['id']}/ice", stream["session_id"]
    good = "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host"
    for body in (
        {"candidate": "candidate:garbage", "sdpMid": "0", "sdpMLineIndex": 0},
        {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 notaport typ host", "sdpMid": "0"},
        {"candidate": good},  # neither sdpMid nor sdpMLineIndex
        {"candidate": good, "sdpMid": 0},
        {"candidate": good, "sdpMLineIndex": -1},
        {"candidate": 42, "sdpMid": "0"},
    ):
        response = await engine.post(path, json={**body, "session_id": session_id}, headers=AUTH)
        assert response.status == 400, body
    for end in ({}, {"candidate": None}, {"candidate": ""}):  # end-of-candidates, D-ID style
        response = await engine.post(path, json={**end, "session_id": session_id}, headers=AUTH)
        assert response.status == 200, end


async def test_the_session_id_must_come_back_with_every_request(engine):
    stream = await create(engine)
    path = f"/talks/streams/{stream['id']}"
    missing = await engine.delete(path, json={}, headers=AUTH)
    assert missing.status == 400
    other = await create(engine)
    wrong = await engine.delete(path, json={"session_id": other["session_id"]}, headers=AUTH)
    assert wrong.status == 403
    assert stream["id"] in await live_ids(engine)
    token_only = stream["session_id"].split(";")[0]  # the AWSALB value identifies the session
    response = await engine.delete(path, json={"session_id": token_only}, headers=AUTH)
    assert response.status == 200
    assert stream["id"] not in await live_ids(engine)


async def test_sources_that_are_not_a_face_photo_are_refused(engine):
    async def plain_text(request: web.Request) -> web.Response:
        return web.Response(body=b"plain text, no pixels", content_type="image/jpeg")

    notes = web.Application()
    notes.router.add_get("/notes.jpg", plain_text)
    async with TestServer(notes, host="127.0.0.1") as other:
        cases = {
            str(other.make_url("/notes.jpg")): "not an image",  # fetched over http
            "/media/faces/notes.txt": "not an image",
            "/media/faces/wall.png": "no face",
            "/media/faces/missing.jpg": "not found",
            "/media/../secrets.jpg": "media folder",
            "ftp://example.com/face.jpg": "http(s)",
        }
        for source_url, reason in cases.items():
            response = await engine.post(
                "/talks/streams", json={"source_url": source_url}, headers=AUTH
            )
            assert response.status == 400, source_url
            assert reason in (await response.json())["description"], source_url
    assert await live_ids(engine) == set()


async def test_invalid_create_and_talk_bodies_are_refused(engine):
    for body in (
        {},
        {"source_url": "/media/faces/astronaut.jpg", "compatibility_mode": "maybe"},
        {"source_url": "/media/faces/astronaut.jpg", "session_timeout": 301},
        {"source_url": "/media/faces/astronaut.jpg", "output_resolution": 1081},
        {"source_url": "/media/faces/astronaut.jpg", "stream_warmup": "yes"},
    ):
        response = await engine.post("/talks/streams", json=body, headers=AUTH)
        assert response.status == 400, body
    unknown = await engine.post("/clips/streams", json={"presenter_id": "nobody"}, headers=AUTH)
    assert unknown.status == 400

    stream = await create(engine)
    path, session_id = f"/talks/streams/{stream['id']}", stream["session_id"]
    for body in (
        {"script": {"type": "text", "input": "x" * 2001}},
        {"script": {"type": "text", "input": "   "}},
        {"script": {"type": "video", "input": "hi"}},
        {"script": {"type": "audio"}},
        {"script": "hi"},
        {"script": {"type": "text", "input": "hi"}, "config": {"fluent": "yes"}},
    ):
        response = await engine.post(path, json={**body, "session_id": session_id}, headers=AUTH)
        assert response.status == 400, body
        assert re.search(r"script|config|fluent", (await response.json())["description"])

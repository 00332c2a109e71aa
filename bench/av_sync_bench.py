"""Audio/video offset of the local engine, measured from the decoded stream as a browser gets it.

    .venv/bin/python -m bench.av_sync_bench [--talks 5]

Starts the engine (D-ID streams only), receives one 512 px stream with an aiortc peer, and has
the avatar say a sentence `--talks` times (1.5 s of silence before each). From the decoded
media: the audio onset is the first 5 ms window above -40 dBFS; the mouth onset is the first
video frame whose mouth box (from `TalkingHeadRenderer.face_regions()`) changes clearly more
than the idle frames before the talk did (see bench/mouth.py), looked for from 0.75 s before the
sound onset on. The end of speech and the last mouth movement are found the same way.

Sign convention: offset = mouth time - sound time, in ms. Positive: the mouth moves after the
sound is heard (video lags audio); negative: the mouth leads. ITU-R BT.1359 finds about 45 ms
of audio lead and 125 ms of audio lag detectable, i.e. offsets outside [-125, +45] ms here.

Two clocks are reported:
- "sender clock": each frame's RTP timestamp mapped to the sender's wall clock through its
  RTCP sender reports, which is how a browser lines the tracks up for playout;
- "arrival": when each frame left this peer's decoder (includes each track's jitter buffer).
Only "clean" talks count in the summary: those with no skipped video frame within 0.3 s of the
sound onset (the engine skips frames to stay real-time when it is starved of CPU, which blurs
the onset by the gap); talks are repeated (up to 3x) until `--talks` are clean, the others are
listed with the rest and summarized apart; when no talk is clean, all are summarized and the
JSON says so.
The same detectors run on an ideal rendering of the same sentence (the engine's renderer and
Piper voice, frames at exact media times, no transport): that is the detectors' own bias, and
"corrected" = measured - ideal is the pipeline's error.

Writes bench/results/av_sync.json and av_sync.png.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np

from avatars.demo import astronaut_png

from .harness import ENGINE_ALONE, bench_stack
from .mouth import audio_onsets, first_and_last_above, motion, motion_threshold
from .report import LoadMonitor, chart_path, pyplot, summarize, write

NAME = "av_sync"
FPS = 25
RESOLUTION = 512
SEARCH = 0.75  # seconds around the sound onset where the mouth onset is looked for
CLEAN_AROUND = 0.3  # seconds around the sound onset that must have no skipped video frame
SENTENCES = [
    "Alright, I can tell you all about the launch.",
    "Hello there, it is lovely to meet you today.",
    "We orbited the Earth every ninety minutes.",
    "My favourite part was looking out of the window.",
    "Oh, that is a really good question.",
]


def y_of(rgb: np.ndarray) -> np.ndarray:
    """Limited-range luma as a decoder's Y plane holds it (what PyAV's gray gives us)."""
    return 16 + 0.859 * (rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114)


def ideal_offsets(speaker, renderer, box, text: str) -> dict:
    """The detectors on a perfect rendering: sound from 1.0 s, frames at exact media times."""
    from engine.player import SAMPLE_RATE

    # The sentence as a talk speaks it: its opening clause apart (engine/first_clause.py).
    utterance = speaker.synthesize(text, first_clause=True).resampled(SAMPLE_RATE)
    start = 1.0
    x0, y0, x1, y1 = box
    frames = int((start + utterance.duration + 0.5) * FPS)
    lumas = []
    for k in range(frames):
        t = k / FPS
        openness, viseme, spread = utterance.mouth_at(t + 0.5 / FPS - start)
        lumas.append(y_of(renderer.frame(t, openness, viseme, spread)[y0:y1, x0:x1].astype(np.float32)))
    moves = motion(lumas)
    idle_frames = int(start * FPS)
    threshold = motion_threshold(moves[1:idle_frames], moves[idle_frames:])
    first_frame, last_frame = first_and_last_above(moves, threshold, idle_frames)
    audio = np.concatenate([np.zeros(int(start * SAMPLE_RATE), np.int16), utterance.pcm])
    first_sample, last_sample = audio_onsets(audio, SAMPLE_RATE)
    return {
        "onset_ms": (first_frame / FPS - first_sample / SAMPLE_RATE) * 1000,
        "end_ms": ((last_frame + 1) / FPS - last_sample / SAMPLE_RATE) * 1000,
        "duration_s": round(utterance.duration, 2),
    }


def analyse_talk(stream, posted: float, done: float) -> dict:
    """Onsets of one talk on the sender clock and on arrival."""
    video = sorted((f for f in stream.video if posted - 1.2 <= f.arrival <= done + 0.6),
                   key=lambda f: f.pts)
    audio = sorted((f for f in stream.audio if posted - 1.2 <= f.arrival <= done + 0.6),
                   key=lambda f: f.pts)
    moves = motion([f.data for f in video])
    idle = [i for i, f in enumerate(video) if i and f.arrival < posted]
    start = (idle[-1] + 1) if idle else 1
    threshold = motion_threshold(moves[idle] if idle else np.array([]), moves[start:])
    samples = np.concatenate([f.data for f in audio]) if audio else np.zeros(0, np.int16)
    first_sample, last_sample = audio_onsets(samples, 48000)
    first_frame, last_frame = first_and_last_above(moves, threshold, start)
    if first_frame is None or first_sample is None:
        return {"found": False, "threshold": threshold}
    # Movement far from the sound (more than SEARCH seconds) is not this talk's mouth: under CPU
    # starvation the stream stalls and skips, which no threshold fully hides.
    sound_arrival = audio[min(int(np.searchsorted(np.cumsum([len(f.data) for f in audio]),
                                                  first_sample, side="right")), len(audio) - 1)].arrival
    window = [i for i in range(start, len(video))
              if abs(video[i].arrival - sound_arrival) <= SEARCH or video[i].arrival > sound_arrival]
    first_frame, last_frame = first_and_last_above(moves, threshold, window[0] if window else start)
    if first_frame is None:
        return {"found": False, "threshold": threshold}
    # Which decoded audio frame holds the onset, and how far into it.
    sizes = np.cumsum([len(f.data) for f in audio])

    def audio_point(sample: int) -> tuple[float | None, float]:
        index = int(np.searchsorted(sizes, sample, side="right"))
        index = min(index, len(audio) - 1)
        into = sample - (sizes[index - 1] if index else 0)
        frame = audio[index]
        sender = stream.sender_time("audio", frame.pts + into)
        return sender, frame.arrival + into / 48000

    def video_point(index: int) -> tuple[float | None, float]:
        frame = video[index]
        return stream.sender_time("video", frame.pts), frame.arrival

    step = 90000 // FPS
    near = [i for i in range(1, len(video))
            if abs(video[i].arrival - sound_arrival) <= CLEAN_AROUND]
    skipped = sum((video[i].pts - video[i - 1].pts) // step - 1 for i in near
                  if video[i].pts - video[i - 1].pts > step)
    a_sender, a_arrival = audio_point(first_sample)
    m_sender, m_arrival = video_point(first_frame)
    ae_sender, ae_arrival = audio_point(last_sample)
    me_sender, me_arrival = video_point(last_frame)
    frame_ms = 1000 / FPS

    def diff(a, b, extra=0.0):
        return None if a is None or b is None else round((a - b) * 1000 + extra, 1)

    return {
        "found": True,
        "clean": skipped == 0,
        "frames_skipped_near_onset": int(skipped),
        "onset_sender_clock_ms": diff(m_sender, a_sender),
        "onset_arrival_ms": diff(m_arrival, a_arrival),
        # the last moving frame is shown for a whole frame time
        "end_sender_clock_ms": diff(me_sender, ae_sender, frame_ms),
        "end_arrival_ms": diff(me_arrival, ae_arrival, frame_ms),
        "talk_posted_to_sound_ms": round((a_arrival - posted) * 1000, 1),
        "motion_threshold": round(threshold, 2),
        "trace": {
            "video_t": [round((stream.sender_time("video", f.pts) or 0) - a_sender, 4)
                        if a_sender else None for f in video],
            "motion": [round(float(m), 2) for m in moves],
            "audio_env_t": [], "audio_env": [],
        },
        "_audio": (samples, audio, a_sender),
    }


def audio_envelope(samples: np.ndarray, audio, stream, origin: float) -> tuple[list, list]:
    """RMS per 10 ms on the sender clock, relative to the sound onset, for the chart."""
    window = 480
    times, values = [], []
    sizes = np.cumsum([len(f.data) for f in audio])
    for start in range(0, len(samples) - window, window):
        index = min(int(np.searchsorted(sizes, start, side="right")), len(audio) - 1)
        into = start - (sizes[index - 1] if index else 0)
        t = stream.sender_time("audio", audio[index].pts + into)
        if t is None:
            continue
        rms = float(np.sqrt(np.mean((samples[start:start + window] / 32768.0) ** 2)))
        times.append(round(t - origin, 4))
        values.append(round(rms, 5))
    return times, values


async def measure(engine_url: str, box, talks: int) -> tuple[list[dict], dict]:
    from .receiver import EngineStream, install_sender_report_capture

    install_sender_report_capture()
    stream = EngineStream(engine_url, keep_video=True, keep_audio=True, crop=box)
    await stream.open("/media/astronaut.png", resolution=RESOLUTION)
    await asyncio.sleep(3.0)  # a few sender reports on both tracks
    results = []
    for n in range(3 * talks):
        if sum(1 for r in results if r.get("clean")) >= talks:
            break
        await asyncio.sleep(1.5)
        text = SENTENCES[n % len(SENTENCES)]
        seen = len(stream.events)
        posted = await stream.say(text)
        deadline = time.monotonic() + 20
        done = None
        while time.monotonic() < deadline and done is None:
            done = next((at for name, _, at in stream.events[seen:] if name == "stream/done"), None)
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.6)
        row = analyse_talk(stream, posted, done or time.time())
        row["text"] = text
        if row.get("found"):
            samples, audio, origin = row.pop("_audio")
            if origin is not None:
                row["trace"]["audio_env_t"], row["trace"]["audio_env"] = audio_envelope(
                    samples, audio, stream, origin)
        results.append(row)
    transport = {}
    for kind, frames in (("audio", stream.audio), ("video", stream.video)):
        lags = [(f.arrival - t) * 1000 for f in frames[-500:]
                if (t := stream.sender_time(kind, f.pts)) is not None]
        transport[f"{kind}_sent_to_decoded_ms"] = summarize(lags)
    await stream.close()
    return results, transport


def chart(rows: list[dict], path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    example = next((r for r in rows if r.get("clean") and r["trace"]["audio_env_t"]), None)
    if example is not None:
        trace = example["trace"]
        left.plot(trace["audio_env_t"], np.array(trace["audio_env"]) / max(trace["audio_env"]),
                  color="tab:blue", lw=1, label="audio RMS (normalised)")
        moves = np.array(trace["motion"])
        left.step([t for t in trace["video_t"]], moves / max(moves.max(), 1e-6), where="post",
                  color="tab:orange", label="mouth-box change (normalised)")
        left.axvline(0, color="tab:blue", ls=":", lw=1, label="sound onset")
        left.axvline(example["onset_sender_clock_ms"] / 1000, color="tab:orange", ls=":", lw=1,
                     label=f"mouth onset ({example['onset_sender_clock_ms']:+.0f} ms)")
        left.set_xlim(-0.6, 2.0)
        left.set_xlabel("seconds from sound onset (sender clock)")
        left.set_title(f"“{example['text']}”", fontsize=9)
        left.legend(fontsize=7)
    found = [r for r in rows if r.get("clean")]
    x = np.arange(len(found))
    for shift, key, label in ((-0.2, "onset_sender_clock_ms", "onset, sender clock"),
                              (0.0, "onset_arrival_ms", "onset, arrival"),
                              (0.2, "onset_corrected_ms", "onset, corrected")):
        right.bar(x + shift, [r.get(key) or 0 for r in found], width=0.2, label=label)
    right.axhline(0, color="black", lw=0.8)
    # BT.1359: audio leading by > 45 ms (here: > +45) or lagging by > 125 ms (< -125) shows.
    right.axhspan(-125, 45, color="green", alpha=0.08, label="BT.1359 undetectable")
    right.set_xticks(x, [f"talk {i + 1}" for i in x])
    right.set_ylabel("mouth - sound, ms (positive: video lags)")
    right.set_title("A/V offset per talk (talks without frame skips)")
    right.legend(fontsize=7)
    fig.suptitle("Local engine lip sync, from the decoded stream")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=5)
    args = parser.parse_args(argv)

    from engine.face import FaceFinder, decode_image
    from engine.renderer import TalkingHeadRenderer
    from engine.tts import load_speaker

    png = astronaut_png()
    rgb = decode_image(png)
    renderer = TalkingHeadRenderer(rgb, FaceFinder().find_in_image(rgb), RESOLUTION)
    box = renderer.face_regions()["mouth"]
    with LoadMonitor() as load, bench_stack(NAME, ["engine"], env=ENGINE_ALONE) as stack:
        (stack.media_root / "astronaut.png").write_bytes(png)
        rows, transport = asyncio.run(measure(stack.engine_url, box, args.talks))

    speaker = load_speaker()
    ideals = {text: ideal_offsets(speaker, renderer, box, text) for text in {r["text"] for r in rows}}
    for row in rows:
        ideal = ideals[row["text"]]
        row["ideal_onset_ms"] = round(ideal["onset_ms"], 1)
        row["ideal_end_ms"] = round(ideal["end_ms"], 1)
        if row.get("found") and row["onset_sender_clock_ms"] is not None:
            row["onset_corrected_ms"] = round(row["onset_sender_clock_ms"] - ideal["onset_ms"], 1)
            row["end_corrected_ms"] = round(row["end_sender_clock_ms"] - ideal["end_ms"], 1)

    clean = [r for r in rows if r.get("clean")]
    summarized = "clean talks"
    if not clean:
        clean = [r for r in rows if r.get("found")]
        summarized = "all talks (none was free of skipped frames: the engine was starved of CPU)"

    def stat(key: str, among: list[dict] = clean) -> dict:
        return summarize(r.get(key) for r in among)

    path = chart_path(NAME)
    chart(rows, path)
    onset = stat("onset_sender_clock_ms")
    corrected = stat("onset_corrected_ms")
    report = {
        "setup": {"engine": "manage.py run_engine (the Procfile's engine), ENGINE_MODULES=''",
                  "stream": f"Talks, {RESOLUTION} px, VP8; one aiortc receiving peer",
                  "talks": args.talks, "mouth_box": box},
        "sign_convention": "offset = mouth time - sound time; positive = video lags audio",
        "offsets_ms": {
            "onset_sender_clock": onset, "onset_arrival": stat("onset_arrival_ms"),
            "onset_ideal_detector_bias": stat("ideal_onset_ms"), "onset_corrected": corrected,
            "end_sender_clock": stat("end_sender_clock_ms"), "end_arrival": stat("end_arrival_ms"),
            "end_corrected": stat("end_corrected_ms"),
            "onset_sender_clock_all_talks": stat("onset_sender_clock_ms",
                                                 [r for r in rows if r.get("found")]),
        },
        "talks_clean": sum(1 for r in rows if r.get("clean")),
        "talks_summarized": summarized,
        "talks_with_frame_skips": sum(1 for r in rows if r.get("found") and not r.get("clean")),
        "transport": transport,
        "summary": {
            "A/V onset offset p50 ms (sender clock)": onset.get("p50"),
            "A/V onset offset p50 ms (corrected for detector bias)": corrected.get("p50"),
            "A/V onset offset p50 ms (arrival)": stat("onset_arrival_ms").get("p50"),
        },
        "talks": rows,
        "meaning": __doc__,
        "chart": path.name,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out} and {path}")
    print(f"onset offsets (sender clock) ms: {[r.get('onset_sender_clock_ms') for r in rows]}; "
          f"ideal {[r.get('ideal_onset_ms') for r in rows]}; median corrected "
          f"{statistics.median([r['onset_corrected_ms'] for r in rows if 'onset_corrected_ms' in r] or [0])}")
    return report


if __name__ == "__main__":
    main()

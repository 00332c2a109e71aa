// Microphone capture: getUserMedia → AudioWorklet (mic-worklet.js) → 40 ms frames of 16 kHz mono
// PCM16, plus a level for the meter. Muting keeps the device open so unmuting is instant.

const FRAME_MS = 40;

export class Microphone extends EventTarget {
  constructor() {
    super();
    this.context = null;
    this.stream = null;
    this.node = null;
    this.on = false;
  }

  get started() {
    return this.context !== null;
  }

  /** Open the microphone (asks for permission the first time) and start sending frames. */
  async start() {
    if (!this.started) await this.#open();
    if (this.context.state === 'suspended') await this.context.resume();
    this.#setOn(true);
  }

  /** Stop sending frames; the meter drops to zero. */
  mute() {
    this.#setOn(false);
    this.#emit('level', { level: 0 });
  }

  async toggle() {
    if (this.on) this.mute();
    else await this.start();
    return this.on;
  }

  /** Release the device for good (end of session). */
  async close() {
    this.on = false;
    this.node?.port.postMessage({ type: 'stop' });
    this.node?.disconnect();
    this.stream?.getTracks().forEach((track) => track.stop());
    if (this.context && this.context.state !== 'closed') await this.context.close();
    this.context = null;
    this.stream = null;
    this.node = null;
  }

  async #open() {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    // The context runs at the device's own rate; the worklet resamples to 16 kHz properly.
    const context = new AudioContext({ latencyHint: 'interactive' });
    try {
      await context.audioWorklet.addModule(new URL('./mic-worklet.js', import.meta.url));
    } catch (error) {
      stream.getTracks().forEach((track) => track.stop());
      await context.close();
      throw error;
    }
    const source = context.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(context, 'pcm16-capture', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetRate: 16000, frameMs: FRAME_MS },
    });
    node.port.onmessage = (event) => this.#frame(event.data);
    // A silent path to the destination keeps the worklet pulled in every browser.
    const silence = context.createGain();
    silence.gain.value = 0;
    source.connect(node).connect(silence).connect(context.destination);
    stream.getAudioTracks()[0]?.addEventListener('ended', () => {
      this.#setOn(false);
      this.#emit('lost', {});
    });
    this.context = context;
    this.stream = stream;
    this.node = node;
  }

  #frame(data) {
    if (!this.on || data?.type !== 'frame') return;
    this.#emit('frame', { pcm: data.pcm });
    this.#emit('level', { level: meterLevel(data.rms), peak: data.peak });
  }

  #setOn(on) {
    this.on = on;
    this.stream?.getAudioTracks().forEach((track) => {
      track.enabled = on;
    });
    this.#emit('state', { on });
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

/** RMS (0..1) to a meter position: -60 dBFS and below is empty, 0 dBFS is full. */
export function meterLevel(rms) {
  if (!rms) return 0;
  const db = 20 * Math.log10(rms);
  return Math.max(0, Math.min(1, (db + 60) / 60));
}

/** The error code for a failed getUserMedia / microphone start (a DOMException's name). */
export function micErrorCode(error) {
  if (error?.name === 'NotAllowedError') return 'mic_denied';
  if (error?.name === 'NotFoundError') return 'mic_missing';
  return 'mic_failed';
}

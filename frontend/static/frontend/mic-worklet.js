// AudioWorklet that turns the microphone into 16 kHz mono PCM16 frames for the STT service.
// The AudioContext runs at the device rate (44.1/48 kHz); we low-pass and resample with a
// windowed-sinc kernel (no naive sample dropping, which aliases hiss into the speech band).

const TARGET_RATE = 16000;

/** Streaming band-limited resampler (Hann-windowed sinc, table of fractional phases). */
export class Resampler {
  constructor(inRate, outRate = TARGET_RATE, { phases = 256 } = {}) {
    this.step = inRate / outRate;
    this.passthrough = inRate === outRate;
    this.phases = phases;
    // Half the kernel width in input samples: wider when decimating harder.
    const half = Math.ceil(8 * Math.max(1, this.step));
    this.half = half;
    const cutoff = 0.45 * Math.min(1, outRate / inRate); // cycles per input sample, 0.9 × Nyquist
    this.table = buildKernelTable(half, cutoff, phases);
    this.buffer = new Float32Array(4096);
    this.length = half - 1; // zero history so the first output is centred on the first input
    this.position = half - 1;
  }

  /** Feed input samples; returns the output samples they complete. */
  process(input) {
    if (this.passthrough) return Float32Array.from(input);
    this.#append(input);
    const taps = 2 * this.half;
    const count = Math.max(0, Math.ceil((this.length - this.half - this.position) / this.step));
    const out = new Float32Array(count);
    let produced = 0;
    while (produced < count && Math.floor(this.position) + this.half < this.length) {
      const base = Math.floor(this.position);
      const phase = Math.min(this.phases - 1, Math.round((this.position - base) * this.phases));
      const kernel = this.table[phase];
      const start = base - this.half + 1;
      let sum = 0;
      for (let j = 0; j < taps; j++) sum += this.buffer[start + j] * kernel[j];
      out[produced++] = sum;
      this.position += this.step;
    }
    this.#compact();
    return produced === count ? out : out.subarray(0, produced);
  }

  #append(input) {
    if (this.length + input.length > this.buffer.length) {
      const bigger = new Float32Array(2 * (this.length + input.length));
      bigger.set(this.buffer.subarray(0, this.length));
      this.buffer = bigger;
    }
    this.buffer.set(input, this.length);
    this.length += input.length;
  }

  #compact() {
    const drop = Math.floor(this.position) - this.half + 1;
    if (drop <= 0) return;
    this.buffer.copyWithin(0, drop, this.length);
    this.length -= drop;
    this.position -= drop;
  }
}

/** table[phase][j]: weight of input sample (base - half + 1 + j) for fractional offset phase/phases. */
function buildKernelTable(half, cutoff, phases) {
  const table = [];
  for (let p = 0; p < phases; p++) {
    const fraction = p / phases;
    const row = new Float32Array(2 * half);
    let sum = 0;
    for (let j = 0; j < 2 * half; j++) {
      const x = fraction + half - 1 - j; // distance from the output position to this input sample
      const arg = 2 * cutoff * x;
      const sinc = arg === 0 ? 1 : Math.sin(Math.PI * arg) / (Math.PI * arg);
      const window = Math.abs(x) >= half ? 0 : 0.5 * (1 + Math.cos((Math.PI * x) / half));
      row[j] = 2 * cutoff * sinc * window;
      sum += row[j];
    }
    for (let j = 0; j < row.length; j++) row[j] /= sum; // unity gain at DC
    table.push(row);
  }
  return table;
}

/** Float samples (-1..1) to little-endian PCM16, clipping instead of wrapping. */
export function toPcm16(samples, target = new Int16Array(samples.length), offset = 0) {
  for (let i = 0; i < samples.length; i++) {
    const s = Math.max(-1, Math.min(1, samples[i]));
    target[offset + i] = s < 0 ? s * 0x8000 : s * 0x7fff;
  }
  return target;
}

const Processor = globalThis.AudioWorkletProcessor ?? class {};

/** Posts {type: 'frame', pcm: ArrayBuffer, rms, peak} every `frameMs` of 16 kHz audio. */
class PcmCaptureProcessor extends Processor {
  constructor(options) {
    super();
    const { targetRate = TARGET_RATE, frameMs = 40 } = options?.processorOptions ?? {};
    this.resampler = new Resampler(globalThis.sampleRate, targetRate);
    this.frameSize = Math.round((targetRate * frameMs) / 1000);
    this.frame = new Float32Array(this.frameSize);
    this.filled = 0;
    this.running = true;
    this.port.onmessage = (event) => {
      if (event.data?.type === 'stop') this.running = false;
    };
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels?.length) this.#push(this.resampler.process(downmix(channels)));
    return this.running;
  }

  #push(samples) {
    let offset = 0;
    while (offset < samples.length) {
      const take = Math.min(this.frameSize - this.filled, samples.length - offset);
      this.frame.set(samples.subarray(offset, offset + take), this.filled);
      this.filled += take;
      offset += take;
      if (this.filled === this.frameSize) this.#post();
    }
  }

  #post() {
    let energy = 0;
    let peak = 0;
    for (const s of this.frame) {
      energy += s * s;
      peak = Math.max(peak, Math.abs(s));
    }
    const pcm = toPcm16(this.frame);
    this.port.postMessage({ type: 'frame', pcm: pcm.buffer, rms: Math.sqrt(energy / this.frameSize), peak }, [pcm.buffer]);
    this.filled = 0;
  }
}

function downmix(channels) {
  if (channels.length === 1) return channels[0];
  const mono = new Float32Array(channels[0].length);
  for (const channel of channels) for (let i = 0; i < mono.length; i++) mono[i] += channel[i] / channels.length;
  return mono;
}

if (typeof globalThis.registerProcessor === 'function') {
  globalThis.registerProcessor('pcm16-capture', PcmCaptureProcessor);
}

// What the avatar's media is doing, shared by both transports: whether video frames are
// flowing (inbound-rtp stats, the "streaming" label of D-ID's demo) and the provider's own
// talking events, normalised to D-ID's names.

const KNOWN_EVENTS = new Set(['stream/started', 'stream/done', 'stream/ready', 'stream/error']);
const ALIASES = {
  // D-ID's newer video events and HeyGen's LiveKit data messages, in D-ID's words.
  'stream-video/started': 'stream/started',
  'stream-video/done': 'stream/done',
  'stream-video/error': 'stream/error',
  'stream-video/rejected': 'stream/error',
  avatar_start_talking: 'stream/started',
  avatar_stop_talking: 'stream/done',
  // LiveAvatar: FULL mode's agent-response events ({event_type}) and LITE mode's socket events.
  'avatar.speak_started': 'stream/started',
  'avatar.speak_ended': 'stream/done',
  'agent.speak_started': 'stream/started',
  'agent.speak_ended': 'stream/done',
};

/**
 * Parse one provider data message: "stream/started", "stream/started:{json}" (D-ID), or a JSON
 * object with a `type` (HeyGen) or an `event_type` (LiveAvatar). Returns {event, payload} for the events we relay, else null.
 */
export function parseStreamEvent(text) {
  if (typeof text !== 'string') return null;
  const trimmed = text.trim();
  let name;
  let payload = null;
  if (trimmed.startsWith('{')) {
    try {
      payload = JSON.parse(trimmed);
    } catch {
      return null;
    }
    name = payload?.type ?? payload?.event ?? payload?.event_type;
  } else {
    const colon = trimmed.indexOf(':');
    name = colon < 0 ? trimmed : trimmed.slice(0, colon);
    if (colon >= 0) payload = parseJson(trimmed.slice(colon + 1));
  }
  const event = ALIASES[name] ?? name;
  return KNOWN_EVENTS.has(event) ? { event, payload, raw: name } : null;
}

/**
 * LiveAvatar FULL mode's `avatar.transcription` ({event_type, text} on the room's agent-response
 * topic, https://docs.liveavatar.com/docs/full-mode/events): the words its LLM said, else null.
 */
export function parseAvatarTranscript(text) {
  if (typeof text !== 'string' || !text.trim().startsWith('{')) return null;
  let payload;
  try {
    payload = JSON.parse(text);
  } catch {
    return null;
  }
  const said = payload?.event_type === 'avatar.transcription' ? payload.text : null;
  return typeof said === 'string' && said.trim() ? said : null;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text || null;
  }
}

/**
 * Polls receiver stats and reports {streaming, framesDecoded, bytesReceived} each tick.
 * "streaming" turns on as soon as frames grow and off after `quietTicks` ticks without growth,
 * so a short hiccup does not flash the poster.
 */
export class StreamWatcher {
  constructor(getStats, onTick, { everyMs = 500, quietTicks = 2 } = {}) {
    this.getStats = getStats;
    this.onTick = onTick;
    this.everyMs = everyMs;
    this.quietTicks = quietTicks;
    this.timer = null;
    this.last = { framesDecoded: 0, bytesReceived: 0 };
    this.quiet = 0;
    this.streaming = false;
  }

  start() {
    this.stop();
    this.timer = setInterval(() => this.poll(), this.everyMs);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  stats() {
    return { streaming: this.streaming, ...this.last };
  }

  /** One tick (start() runs it every `everyMs`): compare the stats with the last ones. */
  async poll() {
    let report;
    try {
      report = await this.getStats();
    } catch {
      return;
    }
    if (!report || !this.timer) return;
    const now = inboundVideo(report);
    const grew = now.framesDecoded > this.last.framesDecoded || now.bytesReceived > this.last.bytesReceived;
    this.quiet = grew ? 0 : this.quiet + 1;
    const streaming = grew || (this.streaming && this.quiet < this.quietTicks);
    const changed = streaming !== this.streaming;
    this.streaming = streaming;
    this.last = now;
    this.onTick({ streaming, changed, ...now });
  }
}

/** Totals over the inbound video RTP streams of a stats report. */
export function inboundVideo(report) {
  let framesDecoded = 0;
  let bytesReceived = 0;
  report.forEach((entry) => {
    if (entry.type === 'inbound-rtp' && (entry.kind ?? entry.mediaType) === 'video') {
      framesDecoded += entry.framesDecoded ?? 0;
      bytesReceived += entry.bytesReceived ?? 0;
    }
  });
  return { framesDecoded, bytesReceived };
}

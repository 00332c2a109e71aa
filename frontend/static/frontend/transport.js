// What the live page expects of an avatar media transport (plain WebRTC for D-ID and the local
// engine, a LiveKit room for HeyGen). live.js only ever uses this interface, so either can stand
// in for the other, and tests can hold any transport to it.

/**
 * The events a transport dispatches (CustomEvent, payload in `detail`):
 *  label         {name, value}        connection state for the readouts (iceGathering|ice|peer|signaling)
 *  media         {stream, kind}       a remote track arrived; the <video> now plays `stream`
 *  connected     {}                   media is connected
 *  streaming     {streaming, changed, framesDecoded, bytesReceived}  video frames flowing or not
 *  avatar-event  {event, payload, raw}  the provider's talking events, in D-ID's names
 *  avatar-transcript {text}           what the provider's own LLM said (LiveAvatar FULL mode)
 *  failed        {code}               an error code from error-codes.js (ice_failed, media_failed)
 */
export const TRANSPORT_EVENTS = Object.freeze([
  'label', 'media', 'connected', 'streaming', 'avatar-event', 'avatar-transcript', 'failed',
]);

const NO_STATS = Object.freeze({ streaming: false, framesDecoded: 0, bytesReceived: 0 });

export class Transport extends EventTarget {
  /** @param {string} kind 'webrtc' | 'livekit', the value of `session.created`'s `transport` */
  constructor(kind) {
    super();
    this.kind = kind;
    this.watcher = null; // a StreamWatcher once video arrives
  }

  /** {streaming, framesDecoded, bytesReceived} of the avatar's inbound video. */
  stats() {
    return this.watcher?.stats() ?? { ...NO_STATS };
  }

  /** Stop the avatar mid-sentence on the media path, where the provider listens there. */
  interrupt() {}

  /** Release everything; safe to call twice. */
  close() {
    throw new Error(`${this.constructor.name} must implement close()`);
  }

  emit(name, detail) {
    // A typo here would be an event nobody hears: fail loudly instead.
    if (!TRANSPORT_EVENTS.includes(name)) throw new Error(`unknown transport event '${name}'`);
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  label(name, value) {
    this.emit('label', { name, value });
  }
}

// LiveKit transport for HeyGen: HeyGen's streaming API hands out a LiveKit room; we join it,
// play the avatar's tracks in the same <video> as the WebRTC transport, and turn HeyGen's data
// messages (avatar_start_talking / avatar_stop_talking) into D-ID-style stream events.

import { Room, RoomEvent, Track } from './vendor/livekit-client.esm.mjs';
import { parseStreamEvent, StreamWatcher } from './streaming.js';

const NOT_APPLICABLE = ['iceGathering', 'ice', 'signaling'];

export class LiveKitTransport extends EventTarget {
  /** @param {HTMLVideoElement} video element that plays the avatar (audio and video) */
  constructor(video) {
    super();
    this.video = video;
    this.room = null;
    this.remoteStream = null;
    this.watcher = null;
  }

  /** Handle `livekit.join {url, token}`: a new join replaces any previous room. */
  async join({ url, token }) {
    this.close();
    const room = new Room({ adaptiveStream: true, dynacast: true });
    this.room = room;
    this.remoteStream = new MediaStream();
    for (const name of NOT_APPLICABLE) this.#emit('label', { name, value: 'n/a' });

    room.on(RoomEvent.ConnectionStateChanged, (state) => this.#roomState(state));
    room.on(RoomEvent.TrackSubscribed, (track) => this.#subscribed(track));
    room.on(RoomEvent.TrackUnsubscribed, (track) => this.remoteStream?.removeTrack(track.mediaStreamTrack));
    room.on(RoomEvent.DataReceived, (payload) => this.#data(payload));
    room.on(RoomEvent.Disconnected, () => this.#emit('label', { name: 'peer', value: 'disconnected' }));

    this.#emit('label', { name: 'peer', value: 'connecting' });
    try {
      await room.connect(url, token);
    } catch (error) {
      console.warn('LiveKit connect failed', error);
      this.#emit('failed', { code: 'media_failed' });
    }
  }

  stats() {
    return this.watcher?.stats() ?? { streaming: false, framesDecoded: 0, bytesReceived: 0 };
  }

  close() {
    this.watcher?.stop();
    this.watcher = null;
    if (this.room) {
      this.room.removeAllListeners();
      this.room.disconnect();
      this.room = null;
      this.#emit('label', { name: 'peer', value: 'closed' });
    }
    this.remoteStream = null;
  }

  #roomState(state) {
    this.#emit('label', { name: 'peer', value: state });
    if (state === 'connected') this.#emit('connected', {});
  }

  #subscribed(track) {
    if (track.kind !== Track.Kind.Video && track.kind !== Track.Kind.Audio) return;
    this.remoteStream.addTrack(track.mediaStreamTrack);
    if (this.video.srcObject !== this.remoteStream) this.video.srcObject = this.remoteStream;
    this.#emit('media', { stream: this.remoteStream, kind: track.kind });
    if (track.kind === Track.Kind.Video) {
      this.watcher?.stop();
      this.watcher = new StreamWatcher(() => track.receiver?.getStats() ?? null, (detail) => this.#emit('streaming', detail));
      this.watcher.start();
    }
  }

  #data(payload) {
    const parsed = parseStreamEvent(new TextDecoder().decode(payload));
    if (parsed) this.#emit('avatar-event', parsed);
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

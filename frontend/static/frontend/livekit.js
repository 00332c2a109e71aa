// LiveKit transport for HeyGen and LiveAvatar: both hand out a LiveKit room; we join it, play
// the avatar's tracks in the same <video> as the WebRTC transport, and turn their data messages
// (HeyGen's avatar_start_talking, LiveAvatar's avatar.speak_started ...) into D-ID-style stream
// events. LiveAvatar's FULL-mode commands come from the server and are published here, since the
// page is the room participant (https://docs.liveavatar.com/docs/full-mode/events); what its own
// LLM said (`avatar.transcription`) goes back to the server as 'avatar-transcript'.
// The livekit-client module is passed in (live.js imports vendor/livekit-client.esm.mjs) so this
// file loads without it, and tests can hand it a fake room.

import { parseAvatarTranscript, parseStreamEvent, StreamWatcher } from './streaming.js';
import { Transport } from './transport.js';

const NOT_APPLICABLE = ['iceGathering', 'ice', 'signaling'];

export class LiveKitTransport extends Transport {
  /**
   * @param {HTMLVideoElement} video element that plays the avatar (audio and video)
   * @param {{Room: Function, RoomEvent: object, Track: object}} livekit the livekit-client module
   */
  constructor(video, { Room, RoomEvent, Track }) {
    super('livekit');
    this.video = video;
    this.livekit = { Room, RoomEvent, Track };
    this.room = null;
    this.remoteStream = null;
  }

  /** Handle `livekit.join {url, token}`: a new join replaces any previous room. */
  async join({ url, token }) {
    this.close();
    const { Room, RoomEvent } = this.livekit;
    const room = new Room({ adaptiveStream: true, dynacast: true });
    this.room = room;
    this.remoteStream = new MediaStream();
    for (const name of NOT_APPLICABLE) this.label(name, 'n/a');

    room.on(RoomEvent.ConnectionStateChanged, (state) => this.#roomState(state));
    room.on(RoomEvent.TrackSubscribed, (track) => this.#subscribed(track));
    room.on(RoomEvent.TrackUnsubscribed, (track) => this.remoteStream?.removeTrack(track.mediaStreamTrack));
    room.on(RoomEvent.DataReceived, (payload) => this.#data(payload));
    room.on(RoomEvent.Disconnected, () => this.label('peer', 'disconnected'));

    this.label('peer', 'connecting');
    try {
      await room.connect(url, token);
    } catch (error) {
      console.warn('LiveKit connect failed', error);
      if (this.room === room) this.emit('failed', { code: 'media_failed' });
    }
  }

  /** Handle `livekit.data {topic, data}`: publish a command the server wrote into the room. */
  async publish({ topic, data }) {
    if (!this.room || typeof topic !== 'string') return;
    const text = typeof data === 'string' ? data : JSON.stringify(data);
    await this.room.localParticipant.publishData(new TextEncoder().encode(text), { reliable: true, topic });
  }

  close() {
    this.watcher?.stop();
    this.watcher = null;
    if (this.room) {
      const room = this.room;
      this.room = null;
      room.removeAllListeners();
      room.disconnect();
      this.label('peer', 'closed');
    }
    this.remoteStream = null;
  }

  #roomState(state) {
    this.label('peer', state);
    if (state === 'connected') this.emit('connected', {});
  }

  #subscribed(track) {
    const { Track } = this.livekit;
    if (track.kind !== Track.Kind.Video && track.kind !== Track.Kind.Audio) return;
    this.remoteStream.addTrack(track.mediaStreamTrack);
    if (this.video.srcObject !== this.remoteStream) this.video.srcObject = this.remoteStream;
    this.emit('media', { stream: this.remoteStream, kind: track.kind });
    if (track.kind === Track.Kind.Video) {
      this.watcher?.stop();
      this.watcher = new StreamWatcher(() => track.receiver?.getStats() ?? null, (detail) => this.emit('streaming', detail));
      this.watcher.start();
    }
  }

  #data(payload) {
    const text = new TextDecoder().decode(payload);
    const said = parseAvatarTranscript(text);
    if (said !== null) {
      this.emit('avatar-transcript', { text: said }); // the server saves it into the reply
      return;
    }
    const parsed = parseStreamEvent(text);
    if (parsed) this.emit('avatar-event', parsed);
  }
}

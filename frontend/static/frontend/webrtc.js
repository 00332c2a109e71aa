// Plain RTCPeerConnection transport (D-ID streams and the local engine). We are the answering
// side: the avatar service offers audio+video (and usually a data channel); we only answer.
// Getting this exactly right is what fixes "the avatar stays idle / black screen".

import { parseStreamEvent, StreamWatcher } from './streaming.js';
import { Transport } from './transport.js';

const D_ID_CHANNEL_LABEL = 'JanusDataChannel';

export class WebRTCTransport extends Transport {
  /**
   * @param {HTMLVideoElement} video element that plays the avatar (audio and video, one stream)
   * @param {(type: string, fields: object) => void} send signaling sender
   */
  constructor(video, send) {
    super('webrtc');
    this.video = video;
    this.send = send;
    this.pc = null;
    this.remoteStream = null;
    this.channels = new Set();
    this.answerSent = false;
    this.pendingCandidates = [];
    this.sentEndOfCandidates = false;
    this.lastChannelMessage = { text: '', at: 0 };
  }

  /** Handle `rtc.offer {sdp, ice_servers}`: a new offer replaces any previous connection. */
  async handleOffer({ sdp, ice_servers: iceServers }) {
    this.close();
    const pc = new RTCPeerConnection({ iceServers: usableIceServers(iceServers) });
    this.pc = pc;
    this.remoteStream = new MediaStream();
    this.answerSent = false;
    this.pendingCandidates = [];
    this.sentEndOfCandidates = false;

    pc.addEventListener('icegatheringstatechange', () => this.label('iceGathering', pc.iceGatheringState));
    pc.addEventListener('iceconnectionstatechange', () => this.#iceChanged(pc));
    pc.addEventListener('connectionstatechange', () => this.#peerChanged(pc));
    pc.addEventListener('signalingstatechange', () => this.label('signaling', pc.signalingState));
    pc.addEventListener('icecandidate', (event) => this.#localCandidate(event.candidate));
    pc.addEventListener('track', (event) => this.#remoteTrack(event));
    pc.addEventListener('datachannel', (event) => this.#watchChannel(event.channel));
    this.label('signaling', pc.signalingState);

    const offer = typeof sdp === 'string' ? { type: 'offer', sdp } : sdp;
    // The offer first: no transceivers or tracks of our own, or the answer stops matching it.
    await pc.setRemoteDescription(offer);
    if (offer.sdp.includes('m=application')) {
      // D-ID (Janus) sends stream/started|done on a channel the browser opens, as its demo does;
      // servers that open their own channel reach us through `datachannel` instead.
      this.#watchChannel(pc.createDataChannel(D_ID_CHANNEL_LABEL));
    }
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    this.send('rtc.answer', { sdp: pc.localDescription.sdp });
    this.answerSent = true;
    for (const candidate of this.pendingCandidates) this.#sendCandidate(candidate);
    this.pendingCandidates = [];
  }

  /** Remote candidates, in case the server trickles them instead of putting them in the offer. */
  async addRemoteCandidate({ candidate, sdpMid, sdpMLineIndex }) {
    if (!this.pc) return;
    try {
      await this.pc.addIceCandidate(candidate ? { candidate, sdpMid, sdpMLineIndex } : undefined);
    } catch (error) {
      console.warn('ignored a remote ICE candidate', error);
    }
  }

  /**
   * Stop the avatar mid-sentence. D-ID documents no REST interrupt for streams; its client SDK
   * interrupts over the data channel instead, naming the video that is playing.
   */
  interrupt() {
    const message = JSON.stringify({
      type: 'stream/interrupt',
      videoId: this.currentVideoId ?? null,
      timestamp: Date.now(),
    });
    for (const channel of this.channels) {
      if (channel.readyState === 'open') channel.send(message);
    }
  }

  close() {
    this.watcher?.stop();
    this.watcher = null;
    for (const channel of this.channels) channel.close();
    this.channels.clear();
    if (this.pc) {
      this.pc.close();
      this.pc = null;
      this.label('peer', 'closed');
    }
    this.remoteStream?.getTracks().forEach((track) => track.stop());
    this.remoteStream = null;
  }

  #localCandidate(candidate) {
    if (candidate && !candidate.candidate) return; // per-section end marker; the null one follows
    if (!this.answerSent) {
      this.pendingCandidates.push(candidate);
      return;
    }
    this.#sendCandidate(candidate);
  }

  #sendCandidate(candidate) {
    if (candidate) {
      const { candidate: line, sdpMid, sdpMLineIndex } = candidate;
      this.send('rtc.ice', { candidate: line, sdpMid, sdpMLineIndex });
    } else if (!this.sentEndOfCandidates) {
      this.sentEndOfCandidates = true;
      this.send('rtc.ice', { candidate: null, sdpMid: null, sdpMLineIndex: null });
    }
  }

  #remoteTrack(event) {
    if (!this.remoteStream.getTracks().includes(event.track)) this.remoteStream.addTrack(event.track);
    if (this.video.srcObject !== this.remoteStream) this.video.srcObject = this.remoteStream;
    this.emit('media', { stream: this.remoteStream, kind: event.track.kind });
    if (event.track.kind === 'video' && !this.watcher) {
      this.watcher = new StreamWatcher(() => this.pc?.getStats() ?? null, (detail) => this.emit('streaming', detail));
      this.watcher.start();
    }
  }

  #watchChannel(channel) {
    this.channels.add(channel);
    channel.addEventListener('message', async (event) => {
      const text = typeof event.data === 'string' ? event.data : await decode(event.data);
      // The same event may arrive on both our channel and the server's: pass it on once.
      const now = performance.now();
      if (text === this.lastChannelMessage.text && now - this.lastChannelMessage.at < 250) return;
      this.lastChannelMessage = { text, at: now };
      const parsed = parseStreamEvent(text);
      if (!parsed) return;
      if (parsed.event === 'stream/started') {
        const payload = parsed.payload ?? {};
        this.currentVideoId = payload.metadata?.videoId ?? payload.video_id ?? null;
      }
      this.emit('avatar-event', parsed);
    });
    channel.addEventListener('close', () => this.channels.delete(channel));
  }

  #iceChanged(pc) {
    this.label('ice', pc.iceConnectionState);
    if (pc.iceConnectionState === 'failed') {
      this.emit('failed', { code: 'ice_failed' });
    }
  }

  #peerChanged(pc) {
    this.label('peer', pc.connectionState);
    if (pc.connectionState === 'connected') this.emit('connected', {});
    if (pc.connectionState === 'failed') this.emit('failed', { code: 'media_failed' });
  }
}

/** Keep only entries RTCPeerConnection accepts; a bad one would make the constructor throw. */
export function usableIceServers(servers) {
  if (!Array.isArray(servers)) return [];
  const usable = [];
  for (const server of servers) {
    const urls = server?.urls ?? server?.url;
    if (!urls || (Array.isArray(urls) && !urls.length)) continue;
    const entry = { urls };
    if (server.username) entry.username = server.username;
    if (server.credential) entry.credential = server.credential;
    usable.push(entry);
  }
  return usable;
}

async function decode(data) {
  const buffer = data instanceof Blob ? await data.arrayBuffer() : data;
  return new TextDecoder().decode(buffer);
}

import './browser-fakes.mjs';

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LiveKitTransport } from '../../frontend/static/frontend/livekit.js';
import { Transport, TRANSPORT_EVENTS } from '../../frontend/static/frontend/transport.js';
import { usableIceServers, WebRTCTransport } from '../../frontend/static/frontend/webrtc.js';
import { fakeVideo, record, settle } from './browser-fakes.mjs';

const OFFER = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n';

/** The part of RTCPeerConnection the transport uses (https://developer.mozilla.org/en-US/docs/Web/API/RTCPeerConnection). */
class FakePeerConnection extends EventTarget {
  static made = [];

  constructor(config) {
    super();
    this.config = config;
    this.signalingState = 'stable';
    this.iceGatheringState = 'new';
    this.iceConnectionState = 'new';
    this.connectionState = 'new';
    this.channels = [];
    this.remoteCandidates = [];
    this.closed = false;
    FakePeerConnection.made.push(this);
  }

  async setRemoteDescription(description) {
    this.remoteDescription = description;
    this.signalingState = 'have-remote-offer';
  }

  createDataChannel(label) {
    const channel = new EventTarget();
    Object.assign(channel, { label, readyState: 'open', sent: [], send: (data) => channel.sent.push(data), close: () => { channel.readyState = 'closed'; } });
    this.channels.push(channel);
    return channel;
  }

  async createAnswer() {
    return { type: 'answer', sdp: 'v=0\r\nanswer\r\n' };
  }

  async setLocalDescription(description) {
    this.localDescription = description;
    this.signalingState = 'stable';
  }

  async addIceCandidate(candidate) {
    this.remoteCandidates.push(candidate);
  }

  async getStats() {
    return new Map();
  }

  close() {
    this.closed = true;
  }

  // The browser's side:
  gather(candidate) {
    const event = new Event('icecandidate');
    event.candidate = candidate;
    this.dispatchEvent(event);
  }

  state(name, value) {
    this[name] = value;
    this.dispatchEvent(new Event(name === 'connectionState' ? 'connectionstatechange' : 'iceconnectionstatechange'));
  }
}
globalThis.RTCPeerConnection = FakePeerConnection;

const candidate = (line, sdpMid = '0') => ({ candidate: line, sdpMid, sdpMLineIndex: 0 });

function webrtc() {
  FakePeerConnection.made = [];
  const sent = [];
  const transport = new WebRTCTransport(fakeVideo(), (type, fields) => sent.push([type, fields]));
  const events = record(transport, TRANSPORT_EVENTS);
  return { transport, sent, events, pc: () => FakePeerConnection.made.at(-1) };
}

test('both transports implement the interface live.js relies on', () => {
  const livekit = new LiveKitTransport(fakeVideo(), { Room: class {}, RoomEvent: {}, Track: {} });
  const plain = new WebRTCTransport(fakeVideo(), () => {});
  for (const [transport, kind] of [[plain, 'webrtc'], [livekit, 'livekit']]) {
    assert.ok(transport instanceof Transport && transport instanceof EventTarget);
    assert.equal(transport.kind, kind);
    for (const method of ['stats', 'close', 'interrupt']) assert.equal(typeof transport[method], 'function', `${kind}.${method}`);
    assert.deepEqual(transport.stats(), { streaming: false, framesDecoded: 0, bytesReceived: 0 });
    transport.close(); // before anything was opened
    transport.close();
  }
  assert.equal(typeof plain.handleOffer, 'function');
  assert.equal(typeof plain.addRemoteCandidate, 'function');
  assert.equal(typeof livekit.join, 'function');
});

test('a transport cannot emit an event nobody listens for, and must implement close()', () => {
  class Incomplete extends Transport {}
  const transport = new Incomplete('x');
  assert.throws(() => transport.emit('conected', {}), /unknown transport event 'conected'/);
  assert.throws(() => transport.close(), /must implement close/);
  const seen = record(transport, ['failed']);
  transport.emit('failed', { code: 'media_failed' });
  assert.deepEqual(seen, [['failed', { code: 'media_failed' }]]);
});

test('an offer is answered as-is, with the data channel D-ID expects', async () => {
  const { transport, sent, pc } = webrtc();
  await transport.handleOffer({ sdp: OFFER, ice_servers: [{ urls: 'stun:stun.example:3478' }] });
  assert.deepEqual(pc().config, { iceServers: [{ urls: 'stun:stun.example:3478' }] });
  assert.deepEqual(pc().remoteDescription, { type: 'offer', sdp: OFFER });
  assert.deepEqual(pc().channels.map((c) => c.label), ['JanusDataChannel']);
  assert.deepEqual(sent, [['rtc.answer', { sdp: 'v=0\r\nanswer\r\n' }]]);
  transport.close();
  assert.equal(pc().closed, true);
});

test('local candidates wait for the answer, then trickle, with one end-of-candidates', async () => {
  const { transport, sent, pc } = webrtc();
  const offered = transport.handleOffer({ sdp: OFFER, ice_servers: [] });
  pc().gather(candidate('candidate:1 1 udp 1 10.0.0.1 5000 typ host')); // before the answer exists
  await offered;
  pc().gather(candidate('candidate:2 1 udp 1 10.0.0.2 5000 typ host'));
  pc().gather({ candidate: '', sdpMid: '0', sdpMLineIndex: 0 }); // a per-section end marker: skipped
  pc().gather(null);
  pc().gather(null);
  assert.deepEqual(sent.map(([type, fields]) => [type, fields.candidate ?? null]), [
    ['rtc.answer', null],
    ['rtc.ice', 'candidate:1 1 udp 1 10.0.0.1 5000 typ host'],
    ['rtc.ice', 'candidate:2 1 udp 1 10.0.0.2 5000 typ host'],
    ['rtc.ice', null],
  ]);
  transport.close();
});

test('connection failures are reported with their error code', async () => {
  const { transport, events, pc } = webrtc();
  await transport.handleOffer({ sdp: OFFER, ice_servers: [] });
  pc().state('iceConnectionState', 'failed');
  pc().state('connectionState', 'connected');
  pc().state('connectionState', 'failed');
  assert.deepEqual(events.filter(([n]) => n === 'failed').map(([, d]) => d.code), ['ice_failed', 'media_failed']);
  assert.equal(events.filter(([n]) => n === 'connected').length, 1);
  transport.close();
});

test("talking events on D-ID's data channel are relayed once; interrupt names the playing video", async () => {
  const { transport, events, pc } = webrtc();
  await transport.handleOffer({ sdp: OFFER, ice_servers: [] });
  const channel = pc().channels[0];
  const message = (data) => {
    const event = new Event('message');
    event.data = data;
    channel.dispatchEvent(event);
  };
  message('stream/started:{"metadata":{"videoId":"vid-7"}}');
  message('stream/started:{"metadata":{"videoId":"vid-7"}}'); // the same event on a second channel
  await settle();
  assert.deepEqual(events.filter(([n]) => n === 'avatar-event').map(([, d]) => d.event), ['stream/started']);
  transport.interrupt();
  assert.deepEqual(JSON.parse(channel.sent[0]).type, 'stream/interrupt');
  assert.deepEqual(JSON.parse(channel.sent[0]).videoId, 'vid-7');
  transport.close();
});

test('only ICE servers RTCPeerConnection accepts are passed on', () => {
  assert.deepEqual(usableIceServers(null), []);
  assert.deepEqual(
    usableIceServers([
      { urls: ['turn:turn.example:3478'], username: 'u', credential: 'c' },
      { url: 'stun:legacy.example' },
      { urls: [] },
      {},
      null,
    ]),
    [{ urls: ['turn:turn.example:3478'], username: 'u', credential: 'c' }, { urls: 'stun:legacy.example' }],
  );
});

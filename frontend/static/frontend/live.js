// The live page: start a session, open its WebSocket, answer the avatar's media offer, and
// relay microphone, text and controls. The server decides everything else (barge-in included);
// this page only ever talks to our own server, never to a provider with a key.

import { Microphone } from './mic.js';
import { describeClose, describeEnd, describeError } from './reasons.js';
import { Signaling } from './signaling.js';
import { LiveView } from './ui.js';
import { WebRTCTransport } from './webrtc.js';

const config = JSON.parse(document.getElementById('client-config').textContent);
const view = new LiveView(document, { avatarName: config.avatar.name });
const video = view.video;

const state = {
  session: 'starting', // starting | connecting | live | reconnecting | ended | failed
  conversation: null,
  transport: config.transport,
  avatar: 'idle',
  mic: false,
  labels: {},
  mediaConnected: false,
  historyUrl: config.historyUrl,
  endReason: null,
  lastError: null,
  reconnectAttempt: 0,
};
const received = []; // recent server message types, for tests and debugging

let signaling = null;
let transport = null;
let microphone = null;
let endTimer = null;
let statusTimer = null;
let mediaQueue = Promise.resolve(); // offer, candidates and joins are applied strictly in order

// Session lifecycle --------------------------------------------------------------------------

async function start() {
  setSession('starting', 'Starting the conversation…');
  const started = await startSession();
  if (!started) return;
  state.conversation = started.conversation;
  state.historyUrl = started.historyUrl ?? state.historyUrl;
  view.live.dataset.conversation = started.conversation;
  setSession('connecting', `Connecting to ${config.avatar.name}…`);
  signaling = new Signaling(websocketUrl(started.websocket));
  signaling.addEventListener('open', (event) => onSocketOpen(event.detail));
  signaling.addEventListener('message', (event) => onMessage(event.detail));
  signaling.addEventListener('reconnecting', (event) => onReconnecting(event.detail));
  signaling.addEventListener('gave-up', () => finish('connection_lost', null));
  signaling.addEventListener('closed', (event) => onSocketClosed(event.detail));
  signaling.connect();
}

/** POST startUrl → {conversation, websocket, historyUrl, idleTimeout}; null (and a message) on failure. */
async function startSession() {
  let response;
  try {
    // Same origin by construction: only the path of the configured URL is used, so an http://
    // absolute URL built behind a TLS proxy cannot turn into a blocked mixed-content request.
    const url = new URL(config.startUrl, window.location.href);
    response = await fetch(url.pathname + url.search, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRFToken': csrfToken(), Accept: 'application/json' },
    });
  } catch {
    fail('start_failed', `${describeError('start_failed')} The server can't be reached.`);
    return null;
  }
  const body = await response.json().catch(() => ({}));
  if (response.status === 201) return body;
  if (response.status === 429 || body.error === 'session_limit') {
    fail('session_limit', body.message || describeError('session_limit'));
  } else if (response.status === 401 || response.status === 403 || response.redirected) {
    fail('logged_out', describeError('logged_out'));
  } else {
    fail('start_failed', body.message || `${describeError('start_failed')} (HTTP ${response.status})`);
  }
  return null;
}

function onSocketOpen({ reconnected }) {
  state.reconnectAttempt = 0;
  if (!reconnected) return;
  // The server opens a new avatar stream for a new socket; its offer follows.
  setSession('connecting', 'Reconnected. Reconnecting the video…');
  if (state.mic) signaling.send('mic.state', { on: true });
}

function onReconnecting({ attempt, maxRetries }) {
  state.reconnectAttempt = attempt;
  setSession('reconnecting', `Reconnecting… (attempt ${attempt} of ${maxRetries})`);
}

function onSocketClosed({ code }) {
  if (isOver()) return;
  const { reason, text } = describeClose(code);
  finish(reason, text, { failed: reason !== 'ended' });
}

/** End by the user: tell the server and wait (briefly) for its session.ended. */
function endByUser() {
  if (isOver()) return;
  view.setControlsEnabled(false);
  view.setEndEnabled(false);
  view.setStatus('Ending the conversation…', 'ending');
  if (!signaling?.isOpen) {
    finish('user', null);
    return;
  }
  signaling.send('session.end');
  endTimer = setTimeout(() => finish('user', null), 4000);
}

/** The conversation is over: release everything and never reconnect. */
function finish(reason, message, { failed } = {}) {
  if (isOver()) return;
  clearTimeout(endTimer);
  const described = describeEnd(reason, message);
  const isFailure = failed ?? described.failed;
  state.endReason = reason;
  signaling?.finish();
  transport?.close();
  microphone?.close().catch(() => {});
  state.mic = false;
  view.setMic(false);
  view.setAvatarState('idle');
  view.showEnded(state.historyUrl);
  setSession(isFailure ? 'failed' : 'ended', described.text);
}

/** A failure before or outside a session: show why and offer to try again. */
function fail(code, text) {
  state.lastError = code;
  state.endReason = code;
  signaling?.finish();
  transport?.close();
  view.showEnded(state.historyUrl, { started: state.conversation !== null });
  setSession('failed', text ?? describeError(code));
}

function isOver() {
  return state.session === 'ended' || state.session === 'failed';
}

function setSession(session, text) {
  state.session = session;
  clearTimeout(statusTimer);
  view.setSessionState(session, text);
}

function goLive() {
  if (isOver() || state.session === 'live') return;
  setSession('live', `Live with ${config.avatar.name}. Turn the mic on or type a message.`);
  view.setControlsEnabled(true);
}

/** Non-fatal errors show for a while, then the status line goes back to the session's state. */
function showError(code, message) {
  state.lastError = code;
  view.setStatus(describeError(code, message), 'error');
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    if (state.session === 'live') view.setStatus(`Live with ${config.avatar.name}.`, 'live');
  }, 8000);
}

// Server messages ----------------------------------------------------------------------------

const MEDIA_MESSAGES = new Set(['rtc.offer', 'rtc.ice', 'livekit.join']);
const REFUSED_TEXT = new Set(['rate_limited', 'empty_text', 'too_large']); // chat.text not taken

const HANDLERS = {
  'session.created': ({ conversation, transport: kind }) => {
    if (conversation) state.conversation = conversation;
    if (kind) state.transport = kind;
  },
  'rtc.offer': async (message) => {
    const webrtc = await useTransport('webrtc');
    try {
      await webrtc.handleOffer(message);
    } catch (error) {
      console.error('could not answer the avatar offer', error);
      showError('media_failed');
    }
  },
  'rtc.ice': async (message) => {
    if (transport instanceof WebRTCTransport) await transport.addRemoteCandidate(message);
  },
  'livekit.join': async (message) => {
    const livekit = await useTransport('livekit');
    await livekit?.join(message);
  },
  'avatar.state': ({ state: avatarState }) => setAvatar(avatarState),
  // The server decided to cut the avatar off (barge-in): also tell the provider's data channel.
  'avatar.interrupt': () => transport?.interrupt?.(),
  'transcript.interim': ({ text }) => view.showInterim(text ?? ''),
  'transcript.final': ({ text, message, source }) => view.addUserMessage(text ?? '', message, source),
  'reply.started': ({ message }) => view.startReply(message),
  'reply.delta': ({ text, message }) => view.appendReply(text ?? '', message),
  'reply.done': (message) => view.finishReply(message),
  'session.ended': ({ reason, message }) => finish(reason ?? 'ended', message),
  error: ({ code, message }) => {
    if (code === 'session_limit') {
      finish('session_limit', message || describeError(code), { failed: true });
      return;
    }
    if (REFUSED_TEXT.has(code)) view.withdrawPendingUserMessage();
    showError(code, message);
  },
  pong: () => view.setRtt(signaling.rttMs),
};

function onMessage(message) {
  received.push(message.type);
  if (received.length > 200) received.shift();
  const handler = HANDLERS[message.type];
  if (!handler) return;
  const run = () => Promise.resolve(handler(message)).catch((error) => console.error(`handling ${message.type}`, error));
  if (MEDIA_MESSAGES.has(message.type)) mediaQueue = mediaQueue.then(run);
  else run();
}

function setAvatar(avatarState) {
  if (avatarState !== 'speaking' && avatarState !== 'idle') return;
  state.avatar = avatarState;
  view.setAvatarState(avatarState);
}

// Media transports ---------------------------------------------------------------------------

/** The transport for `kind`, created (and wired to the page) on first use. */
async function useTransport(kind) {
  if (transport && transport.kind === kind) return transport;
  transport?.close();
  transport = null;
  let created;
  if (kind === 'livekit') {
    try {
      const { LiveKitTransport } = await import('./livekit.js');
      created = new LiveKitTransport(video);
    } catch (error) {
      console.error('livekit-client is missing (run `make` / scripts/fetch_livekit.sh)', error);
      showError('media_failed', 'The LiveKit client could not be loaded.');
      return null;
    }
  } else {
    created = new WebRTCTransport(video, (type, fields) => signaling.send(type, fields));
  }
  created.kind = kind;
  state.transport = kind;
  view.live.dataset.transport = kind;
  created.addEventListener('label', ({ detail }) => {
    state.labels[detail.name] = detail.value;
    view.setLabel(detail.name, detail.value);
  });
  created.addEventListener('media', () => playWithSound());
  created.addEventListener('connected', () => {
    state.mediaConnected = true;
    goLive();
  });
  created.addEventListener('streaming', ({ detail }) => {
    view.setStreaming(detail);
    if (detail.framesDecoded > 0) goLive();
  });
  created.addEventListener('avatar-event', ({ detail }) => {
    signaling.send('avatar.event', { event: detail.event });
    if (detail.event === 'stream/started') setAvatar('speaking');
    if (detail.event === 'stream/done') setAvatar('idle');
    if (detail.event === 'stream/error') showError('avatar_error');
  });
  created.addEventListener('failed', ({ detail }) => {
    showError(detail.code);
    view.setControlsEnabled(!isOver()); // text still works without video
  });
  transport = created;
  return created;
}

/** Play with sound; if the browser blocks it, play muted and offer a click to unmute. */
async function playWithSound() {
  if (!view.unmute.hidden) {
    // Sound is already blocked: keep playing muted until the user clicks "unmute".
    await video.play().catch(() => {});
    return;
  }
  video.muted = false;
  try {
    await video.play();
    view.showUnmute(false);
  } catch (error) {
    if (error.name === 'AbortError') return; // a newer srcObject/play() superseded this one
    video.muted = true;
    view.showUnmute(true);
    await video.play().catch(() => {});
  }
}

// Microphone ---------------------------------------------------------------------------------

async function toggleMic() {
  if (!microphone) {
    microphone = new Microphone();
    microphone.addEventListener('frame', ({ detail }) => signaling?.sendAudio(detail.pcm));
    microphone.addEventListener('level', ({ detail }) => view.setLevel(detail.level));
    microphone.addEventListener('state', ({ detail }) => {
      state.mic = detail.on;
      view.setMic(detail.on);
      signaling?.send('mic.state', { on: detail.on });
    });
    microphone.addEventListener('lost', () => showError('mic_failed', 'The microphone was disconnected.'));
  }
  view.micButton.disabled = true;
  try {
    await microphone.toggle();
  } catch (error) {
    const code = error.name === 'NotAllowedError' ? 'mic_denied' : error.name === 'NotFoundError' ? 'mic_missing' : 'mic_failed';
    console.warn('microphone', error);
    showError(code);
  } finally {
    view.micButton.disabled = isOver();
  }
}

// Controls -----------------------------------------------------------------------------------

function sendText(event) {
  event.preventDefault();
  if (isOver()) return;
  const text = view.takeInput().slice(0, config.maxTextChars);
  if (!text) return;
  signaling.send('chat.text', { text });
  view.addPendingUserMessage(text);
}

function interrupt() {
  if (isOver() || !signaling) return;
  signaling.send('avatar.interrupt');
}

view.form.addEventListener('submit', sendText);
view.input.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    view.form.requestSubmit();
  }
});
view.micButton.addEventListener('click', toggleMic);
view.interruptButton.addEventListener('click', interrupt);
view.endButton.addEventListener('click', endByUser);
view.unmute.addEventListener('click', () => {
  video.muted = false;
  video.play().then(() => view.showUnmute(false), () => {});
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && state.avatar === 'speaking') interrupt();
});

// Leaving the page ends the conversation (the server would notice the socket close anyway).
function leave() {
  if (isOver() || !signaling) return;
  signaling.send('session.end', { reason: 'page_closed' });
  state.endReason = 'disconnect';
  signaling.finish();
}
window.addEventListener('pagehide', leave);
window.addEventListener('beforeunload', leave);
window.addEventListener('pageshow', (event) => {
  if (event.persisted) window.location.reload(); // back from bfcache: that session is gone
});

// Helpers ------------------------------------------------------------------------------------

function websocketUrl(path) {
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${window.location.host}${path}`;
}

function csrfToken() {
  const cookie = document.cookie.split('; ').find((part) => part.startsWith('csrftoken='));
  if (cookie) return decodeURIComponent(cookie.slice('csrftoken='.length));
  return document.querySelector('input[name=csrfmiddlewaretoken]')?.value ?? '';
}

// Test hook: read-only views of what the page knows.
window.livePersona = {
  get state() {
    return { ...state, labels: { ...state.labels }, ...(transport?.stats() ?? {}) };
  },
  stats() {
    return { ...(transport?.stats() ?? { streaming: false, framesDecoded: 0, bytesReceived: 0 }), rttMs: signaling?.rttMs ?? null };
  },
  transcript() {
    return view.transcript();
  },
  received() {
    return [...received];
  },
};

start();

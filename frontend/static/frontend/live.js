// The live page: start a session, open its WebSocket, answer the avatar's media offer, and
// relay microphone, text and controls. The server decides everything else (barge-in included);
// this page only ever talks to our own server, never to a provider with a key.

import { playWithSound } from './autoplay.js';
import { frameDispatcher } from './frame-dispatch.js';
import { Microphone, micErrorCode } from './mic.js';
import { describeClose, describeEnd, describeError, serviceOf } from './reasons.js';
import { csrfToken, startSession, websocketUrl } from './session-start.js';
import { Signaling } from './signaling.js';
import { parseStreamEvent } from './streaming.js';
import { StageState } from './stage-state.js';
import { createTransport } from './transport-choice.js';
import { LiveView } from './ui.js';
import { WebRTCTransport } from './webrtc.js';

const config = JSON.parse(document.getElementById('client-config').textContent);
const view = new LiveView(document, { avatarName: config.avatar.name });
const video = view.video;
// Idle loop or live stream: what the stage shows, from the stream's events (see stage-state.js).
const stage = new StageState({
  hasIdleVideo: view.idleVideo !== null,
  onChange: (shown, { ready, readyBy }) => view.showOnStage(shown, { ready, readyBy }),
});

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
  lastErrorService: null, // avatar | stt | llm | server | browser: which part failed
  reconnectAttempt: 0,
  // The server is replacing the avatar's stream (stream.replacing): the old connection's drop
  // is planned, so it is not reported as a failure until the new offer has been answered.
  replacingStream: false,
};
const received = []; // recent server message types, for tests and debugging

let signaling = null;
let transport = null;
let microphone = null;
let endTimer = null;
let statusTimer = null;

// Session lifecycle --------------------------------------------------------------------------

async function start() {
  setSession('starting', 'Starting the conversation…');
  const { started, failure, text } = await startSession(config.startUrl, {
    fetch: (url, init) => fetch(url, init),
    href: window.location.href,
    csrfToken: () => csrfToken(document),
  });
  if (!started) {
    fail(failure, text);
    return;
  }
  state.conversation = started.conversation;
  state.historyUrl = started.historyUrl ?? state.historyUrl;
  view.live.dataset.conversation = started.conversation;
  setSession('connecting', `Connecting to ${config.avatar.name}…`);
  signaling = new Signaling(websocketUrl(started.websocket, window.location));
  signaling.addEventListener('open', (event) => onSocketOpen(event.detail));
  signaling.addEventListener('message', (event) => onMessage(event.detail));
  signaling.addEventListener('reconnecting', (event) => onReconnecting(event.detail));
  signaling.addEventListener('gave-up', () => finish('connection_lost', null));
  signaling.addEventListener('closed', (event) => onSocketClosed(event.detail));
  signaling.connect();
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
  stage.handle('closed');
  view.showEnded(state.historyUrl);
  setSession(isFailure ? 'failed' : 'ended', described.text);
}

/** A failure before or outside a session: show why and offer to try again. */
function fail(code, text) {
  state.lastError = code;
  state.endReason = code;
  signaling?.finish();
  transport?.close();
  stage.handle('closed');
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
  if (isOver() || state.session === 'live' || state.replacingStream) return;
  setSession('live', `Live with ${config.avatar.name}. Turn the mic on or type a message.`);
  view.setControlsEnabled(true);
}

/** Non-fatal errors show for a while, then the status line goes back to the session's state. */
function showError(code, message) {
  state.lastError = code;
  state.lastErrorService = serviceOf(code);
  view.setStatus(describeError(code, message), 'error');
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    if (state.session === 'live') view.setStatus(`Live with ${config.avatar.name}.`, 'live');
  }, 8000);
}

// Server messages ----------------------------------------------------------------------------

// chat.text not taken (chat_rate_limited: the per-user quota in Redis)
const REFUSED_TEXT = new Set(['chat_rate_limited', 'empty_text', 'too_large']);

const HANDLERS = {
  'session.created': ({ conversation, transport: kind }) => {
    if (conversation) state.conversation = conversation;
    if (kind) state.transport = kind;
  },
  'rtc.offer': async (message) => {
    const webrtc = await useTransport('webrtc');
    stage.handle('offer'); // a new stream: not ready until it says so
    try {
      await webrtc.handleOffer(message);
    } catch (error) {
      console.error('could not answer the avatar offer', error);
      showError('media_failed');
    } finally {
      state.replacingStream = false; // the old connection is closed; failures are real again
    }
  },
  'stream.replacing': ({ message }) => {
    if (isOver()) return;
    state.replacingStream = true;
    setSession('reconnecting', message || 'Renewing the video connection…');
  },
  'rtc.ice': async (message) => {
    if (transport instanceof WebRTCTransport) await transport.addRemoteCandidate(message);
  },
  'livekit.join': async (message) => {
    const livekit = await useTransport('livekit');
    stage.handle('offer');
    await livekit?.join(message);
  },
  // LiveAvatar FULL mode: a command for the room, which only a participant can publish.
  'livekit.data': (message) => transport?.publish?.(message),
  // LiveAvatar LITE mode: the server heard the avatar start or stop talking on its own socket.
  'avatar.provider_event': ({ event }) => {
    const parsed = parseStreamEvent(String(event ?? ''));
    if (parsed) signaling.send('avatar.event', { event: parsed.event });
  },
  'avatar.state': ({ state: avatarState }) => setAvatar(avatarState),
  // The server decided to cut the avatar off (barge-in): also tell the provider's data channel.
  'avatar.interrupt': () => transport?.interrupt?.(),
  'transcript.interim': ({ text }) => view.showInterim(text ?? ''),
  // `message_id` is the saved Message's id; `message`, where a frame has one, is text for people.
  'transcript.final': ({ text, message_id: id, source }) => view.addUserMessage(text ?? '', id, source),
  'reply.started': ({ message_id: id }) => view.startReply(id),
  'reply.delta': ({ text, message_id: id }) => view.appendReply(text ?? '', id),
  'reply.done': (done) => view.finishReply(done),
  // The avatar was cut off before it finished saying a reply that was all written.
  'reply.interrupted': ({ message_id }) => view.finishReply({ message_id, interrupted: true }),
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

// The offer, candidates and joins are applied strictly in order (see frame-dispatch.js).
const dispatch = frameDispatcher(HANDLERS);

function onMessage(message) {
  received.push(message.type);
  if (received.length > 200) received.shift();
  dispatch(message);
}

function setAvatar(avatarState) {
  if (avatarState !== 'speaking' && avatarState !== 'idle') return;
  state.avatar = avatarState;
  view.setAvatarState(avatarState);
  stage.handle(avatarState === 'speaking' ? 'stream/started' : 'stream/done');
}

// Media transports ---------------------------------------------------------------------------

/** The transport for `kind`, created (and wired to the page) on first use. */
async function useTransport(kind) {
  if (transport && transport.kind === kind) return transport;
  transport?.close();
  transport = null;
  let created;
  try {
    created = await createTransport(kind, video, (type, fields) => signaling.send(type, fields));
  } catch (error) { // only LiveKit's modules are loaded here (see transport-choice.js)
    console.error('the LiveKit transport could not be loaded', error);
    showError('media_failed', 'The LiveKit client could not be loaded.');
    return null;
  }
  state.transport = kind;
  view.live.dataset.transport = kind;
  created.addEventListener('label', ({ detail }) => {
    state.labels[detail.name] = detail.value;
    view.setLabel(detail.name, detail.value);
  });
  created.addEventListener('media', () => playWithSound(video, {
    unmuteOffered: !view.unmute.hidden,
    showUnmute: (show) => view.showUnmute(show),
  }));
  created.addEventListener('connected', () => {
    state.mediaConnected = true;
    stage.handle('connected');
    goLive();
  });
  created.addEventListener('streaming', ({ detail }) => {
    view.setStreaming(detail);
    if (detail.framesDecoded > 0) goLive();
  });
  created.addEventListener('avatar-event', ({ detail }) => {
    signaling.send('avatar.event', { event: detail.event });
    if (detail.event === 'stream/ready') stage.handle('stream/ready');
    if (detail.event === 'stream/started') setAvatar('speaking');
    if (detail.event === 'stream/done') setAvatar('idle');
    if (detail.event === 'stream/error') showError('avatar_error');
  });
  // LiveAvatar FULL mode with its own LLM: only the room hears its words; the server saves them.
  created.addEventListener('avatar-transcript', ({ detail }) => {
    signaling.send('avatar.event', { event: 'avatar.transcription', text: detail.text });
  });
  created.addEventListener('failed', ({ detail }) => {
    if (state.replacingStream) return; // the old stream, closed on purpose: a new offer follows
    showError(detail.code);
    view.setControlsEnabled(!isOver()); // text still works without video
  });
  transport = created;
  return created;
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
    console.warn('microphone', error);
    showError(micErrorCode(error));
  } finally {
    view.micButton.disabled = isOver();
  }
}

// Controls -----------------------------------------------------------------------------------

function sendText(event) {
  event.preventDefault();
  sendTyped(view.takeInput());
}

/** A typed turn (the text box or a starter button): one `chat.text` frame. */
function sendTyped(typed) {
  if (isOver() || !signaling) return;
  const text = typed.slice(0, config.maxTextChars);
  if (!text.trim()) return;
  signaling.send('chat.text', { text });
  view.addPendingUserMessage(text);
}

function interrupt() {
  if (isOver() || !signaling) return;
  signaling.send('avatar.interrupt');
}

view.form.addEventListener('submit', sendText);
view.onStarter(sendTyped);
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

// Test hook: read-only views of what the page knows.
window.livePersona = {
  get state() {
    return {
      ...state,
      labels: { ...state.labels },
      stage: { shown: stage.shown, ready: stage.ready, readyBy: stage.readyBy },
      ...(transport?.stats() ?? {}),
    };
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

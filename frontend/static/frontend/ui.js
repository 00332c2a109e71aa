// Everything the live page shows. DOM only: no sockets, no media. State is mirrored into
// data-* attributes so end-to-end tests can read it without scraping text.

const LABEL_IDS = {
  iceGathering: 'ice-gathering-status-label',
  ice: 'ice-status-label',
  peer: 'peer-status-label',
  signaling: 'signaling-status-label',
  streaming: 'streaming-status-label',
};

// Same names as the conversation detail page, in the order a turn happens.
const TIMING_NAMES = {
  speculative_final_ms: 'speculative transcript',
  transcript_final_ms: 'transcript',
  task_started_ms: 'worker',
  first_token_ms: 'first token',
  first_sentence_sent_ms: 'first sentence',
  avatar_started_ms: 'avatar speaking',
};

export class LiveView {
  constructor(root = document, { avatarName = 'Avatar' } = {}) {
    const $ = (id) => root.getElementById(id);
    this.avatarName = avatarName;
    this.live = $('live');
    this.stage = $('stage');
    this.video = $('avatar-video');
    this.idleVideo = $('idle-video'); // null when the avatar has no idle loop
    this.status = $('status');
    this.avatarState = $('avatar-state');
    this.unmute = $('unmute-button');
    this.micButton = $('mic-button');
    this.level = $('mic-level');
    this.interruptButton = $('interrupt-button');
    this.endButton = $('end-button');
    this.framesDecoded = $('frames-decoded');
    this.rtt = $('rtt');
    this.list = $('transcript');
    this.interim = $('interim');
    this.latency = $('latency');
    this.form = $('chat-form');
    this.input = $('chat-input');
    this.count = $('chat-count');
    this.sendButton = $('send-button');
    this.endedActions = $('ended-actions');
    this.historyLink = $('history-link');
    this.starters = $('starters'); // the agent's suggested questions, when it has any
    this.labels = Object.fromEntries(Object.entries(LABEL_IDS).map(([name, id]) => [name, $(id)]));
    this.reply = null;
    this.input.addEventListener('input', () => this.#count());
  }

  /** Overall state (starting|connecting|live|reconnecting|ended|failed) and what to tell the user. */
  setSessionState(state, text) {
    this.live.dataset.state = state;
    if (text !== undefined) this.setStatus(text, state);
  }

  setStatus(text, kind = 'info') {
    this.status.textContent = text;
    this.status.dataset.state = kind;
  }

  setLabel(name, value) {
    const label = this.labels[name];
    if (!label) return;
    label.textContent = value || '–';
    label.dataset.state = value || '';
    label.className = `${name}State-${value}`;
  }

  setStreaming({ streaming, framesDecoded }) {
    const flag = String(Boolean(streaming));
    this.stage.dataset.streaming = flag;
    this.live.dataset.streaming = flag;
    this.live.dataset.framesDecoded = String(framesDecoded ?? 0);
    this.framesDecoded.textContent = String(framesDecoded ?? 0);
    this.setLabel('streaming', streaming ? 'streaming' : 'empty');
  }

  /** What the stage shows (stage-state.js): the idle loop or the live stream; CSS crossfades. */
  showOnStage(shown, { ready, readyBy } = {}) {
    this.stage.dataset.shown = shown;
    this.live.dataset.shown = shown;
    this.live.dataset.streamReady = String(Boolean(ready));
    if (readyBy) this.live.dataset.streamReadyBy = readyBy;
    else delete this.live.dataset.streamReadyBy;
    // Muted, so the browser lets it play without a click; it keeps looping under the live video.
    if (shown === 'idle' && this.idleVideo?.paused) this.idleVideo.play().catch(() => {});
  }

  setAvatarState(state) {
    this.stage.dataset.avatarState = state;
    this.live.dataset.avatarState = state;
    this.avatarState.dataset.state = state;
    this.avatarState.textContent = state;
  }

  setControlsEnabled(enabled) {
    for (const control of [this.micButton, this.interruptButton, this.input, this.sendButton, ...this.starterButtons()]) {
      control.disabled = !enabled;
    }
  }

  starterButtons() {
    return this.starters ? [...this.starters.querySelectorAll('button[data-starter]')] : [];
  }

  /** Call `send(text)` with a starter's text when one is clicked. */
  onStarter(send) {
    this.starters?.addEventListener('click', (event) => {
      const button = event.target.closest?.('button[data-starter]');
      if (button && !button.disabled) send(button.dataset.starter);
    });
  }

  setEndEnabled(enabled) {
    this.endButton.disabled = !enabled;
  }

  setMic(on) {
    this.live.dataset.mic = on ? 'on' : 'off';
    this.micButton.setAttribute('aria-pressed', String(on));
    this.micButton.textContent = on ? 'Mic off' : 'Mic on';
    this.micButton.classList.toggle('active', on);
    if (!on) this.setLevel(0);
  }

  setLevel(level) {
    const value = Math.max(0, Math.min(1, level));
    this.level.style.setProperty('--level', value.toFixed(3));
    this.level.dataset.level = value.toFixed(2);
    this.level.setAttribute('aria-valuenow', value.toFixed(2));
  }

  showUnmute(show) {
    this.unmute.hidden = !show;
  }

  setRtt(ms) {
    this.rtt.textContent = ms == null ? '–' : `${ms} ms`;
  }

  /** Text being recognised right now (lighter); replaced when the final transcript arrives. */
  showInterim(text) {
    this.interim.textContent = text;
    this.interim.hidden = !text;
  }

  /** A typed message shows at once; the server's transcript.final later confirms it. */
  addPendingUserMessage(text) {
    const item = this.#message('user', text, 'text');
    item.dataset.pending = 'true';
    return item;
  }

  /** transcript.final: confirm the matching pending message, or add the spoken one. */
  addUserMessage(text, messageId, source = 'voice') {
    this.showInterim('');
    const pending = [...this.list.querySelectorAll('li[data-role="user"][data-pending="true"]')].find(
      (item) => item.querySelector('.text').textContent === text,
    );
    const item = pending ?? this.#message('user', text, source);
    delete item.dataset.pending;
    if (messageId != null) item.dataset.messageId = String(messageId);
    return item;
  }

  /** reply.started: a new assistant message that deltas are appended to (#reply is the latest). */
  startReply(messageId) {
    this.reply?.removeAttribute('id');
    this.reply = this.#message('assistant', '', null);
    this.reply.id = 'reply';
    this.reply.dataset.streaming = 'true';
    if (messageId != null) this.reply.dataset.messageId = String(messageId);
    return this.reply;
  }

  /** reply.delta: appended to its own message, even if a newer reply has started meanwhile. */
  appendReply(text, messageId) {
    const item = this.#replyFor(messageId);
    item.querySelector('.text').textContent += text;
    this.#scroll();
  }

  /** reply.done: the saved text wins over the streamed one; timings shown under the turn. */
  finishReply({ message_id: messageId, text, interrupted, timings }) {
    const item = this.#replyFor(messageId);
    delete item.dataset.streaming;
    if (typeof text === 'string' && text) item.querySelector('.text').textContent = text;
    if (interrupted && item.dataset.interrupted !== 'true') {
      item.dataset.interrupted = 'true';
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'interrupted';
      item.querySelector('header').append(badge);
    }
    if (timings && Object.keys(timings).length) {
      item.querySelector('.timings')?.remove();
      item.append(timingList(timings));
      this.setLatency(timings);
    }
    this.#scroll();
  }

  /** A typed message the server refused: take it back so the user can fix and resend it. */
  withdrawPendingUserMessage() {
    const pending = [...this.list.querySelectorAll('li[data-role="user"][data-pending="true"]')].pop();
    if (!pending) return;
    const text = pending.querySelector('.text').textContent;
    pending.remove();
    if (!this.input.value) {
      this.input.value = text;
      this.#count();
    }
  }

  setLatency(timings) {
    const parts = orderedTimings(timings).map(([name, ms]) => `${name} ${ms} ms`);
    this.latency.textContent = parts.length ? `Last turn: ${parts.join(' · ')}` : '';
    for (const key of Object.keys(this.latency.dataset)) delete this.latency.dataset[key];
    for (const [key, ms] of Object.entries(timings)) {
      if (typeof ms === 'number') this.latency.dataset[camel(key)] = String(Math.round(ms));
    }
  }

  /** What the transcript pane holds, for tests and debugging. */
  transcript() {
    const turns = [...this.list.querySelectorAll('li.message')].map((item) => ({
      role: item.dataset.role,
      text: item.querySelector('.text').textContent,
      message: item.dataset.messageId ?? null,
      interrupted: item.dataset.interrupted === 'true',
      streaming: item.dataset.streaming === 'true',
    }));
    return { turns, interim: this.interim.hidden ? '' : this.interim.textContent };
  }

  takeInput() {
    const text = this.input.value.trim();
    if (text) {
      this.input.value = '';
      this.#count();
    }
    return text;
  }

  /** Offer the saved conversation (or the history list when none was started) and a new one. */
  showEnded(historyUrl, { started = true } = {}) {
    this.setControlsEnabled(false);
    this.setEndEnabled(false);
    this.showInterim('');
    this.showUnmute(false);
    if (historyUrl) this.historyLink.href = historyUrl;
    this.historyLink.textContent = started ? 'View this conversation' : 'My conversations';
    this.endedActions.hidden = false;
    this.form.hidden = true;
    if (this.starters) this.starters.hidden = true;
  }

  #replyFor(messageId) {
    if (messageId != null) {
      const item = this.list.querySelector(`li[data-role="assistant"][data-message-id="${CSS.escape(String(messageId))}"]`);
      if (item) return item;
    }
    if (this.reply?.dataset.streaming === 'true' && !this.reply.dataset.messageId) {
      if (messageId != null) this.reply.dataset.messageId = String(messageId);
      return this.reply;
    }
    return this.startReply(messageId);
  }

  #message(role, text, source) {
    const item = document.createElement('li');
    item.className = `message ${role}`;
    item.dataset.role = role;
    const header = document.createElement('header');
    const who = document.createElement('strong');
    who.textContent = role === 'user' ? 'You' : this.avatarName;
    const time = document.createElement('time');
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
    header.append(who, ' ', time);
    if (source) {
      const small = document.createElement('small');
      small.className = 'muted';
      small.textContent = source;
      header.append(' ', small);
    }
    const body = document.createElement('p');
    body.className = 'text';
    body.textContent = text;
    item.append(header, body);
    this.list.append(item);
    this.#scroll();
    return item;
  }

  #scroll() {
    const pane = this.list;
    const nearBottom = pane.scrollHeight - pane.scrollTop - pane.clientHeight < 120;
    if (nearBottom || pane.scrollTop === 0) pane.scrollTop = pane.scrollHeight;
  }

  #count() {
    this.count.textContent = `${this.input.value.length} / ${this.input.maxLength}`;
  }
}

function orderedTimings(timings) {
  const known = Object.keys(TIMING_NAMES).filter((key) => typeof timings[key] === 'number');
  const others = Object.keys(timings).filter((key) => !(key in TIMING_NAMES) && typeof timings[key] === 'number');
  return [...known, ...others].map((key) => [
    TIMING_NAMES[key] ?? key.replace(/_ms$/, '').replaceAll('_', ' '),
    Math.round(timings[key]),
  ]);
}

function timingList(timings) {
  const list = document.createElement('dl');
  list.className = 'timings';
  for (const [name, ms] of orderedTimings(timings)) {
    const term = document.createElement('dt');
    term.textContent = name;
    const value = document.createElement('dd');
    value.textContent = `${ms} ms`;
    list.append(term, value);
  }
  return list;
}

function camel(key) {
  return key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

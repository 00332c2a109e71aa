// The live page's WebSocket to our server: JSON control messages, binary microphone frames,
// and reconnection with exponential backoff (1 s doubling to 30 s, six tries) after a dropped link.

/** Normal closure and our application's 4xxx codes (refused, not found, ended): no retry. */
export const isFinalClose = (code) => code === 1000 || (code >= 4000 && code < 5000);
const MAX_BUFFERED_BYTES = 256 * 1024; // drop mic frames rather than queue seconds of stale audio
const MAX_QUEUED_MESSAGES = 50;
const OPEN = 1; // WebSocket.OPEN, spelled out so tests can pass a fake socket class

/**
 * How long to wait before reconnect `attempt` (1, 2, ...): `baseDelayMs` doubling up to
 * `maxDelayMs`, then ±20 % jitter so many pages dropped at once don't all come back together.
 */
export function backoffDelay(attempt, { baseDelayMs = 1000, maxDelayMs = 30000 } = {}, random = Math.random) {
  const backoff = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(backoff * (0.8 + random() * 0.4));
}

export class Signaling extends EventTarget {
  /**
   * @param {string} url ws(s):// address of the session socket
   * @param {{maxRetries?: number, baseDelayMs?: number, maxDelayMs?: number, pingEveryMs?: number,
   *          WebSocket?: typeof WebSocket, setTimeout?: Function, random?: () => number}} options
   */
  constructor(
    url,
    {
      maxRetries = 6,
      baseDelayMs = 1000,
      maxDelayMs = 30000,
      pingEveryMs = 15000,
      WebSocket: Socket = globalThis.WebSocket,
      // Wrapped: the browser's setTimeout called as this.schedule() throws "Illegal invocation".
      setTimeout: schedule = (callback, ms) => setTimeout(callback, ms),
      random = Math.random,
    } = {},
  ) {
    super();
    this.url = url;
    this.Socket = Socket;
    this.schedule = schedule;
    this.random = random;
    this.maxRetries = maxRetries;
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
    this.pingEveryMs = pingEveryMs;
    this.attempt = 0; // reset by the first message on a socket, not by its opening: a server
    this.everOpened = false; // that accepts and drops at once must not be retried forever
    this.ended = false; // set once the session is over: never reconnect after that
    this.socket = null;
    this.queue = [];
    this.rttMs = null;
    this.retryTimer = null;
    this.pingTimer = null;
  }

  get isOpen() {
    return this.socket?.readyState === OPEN;
  }

  connect() {
    if (this.ended) return;
    const socket = new this.Socket(this.url);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    socket.addEventListener('open', () => {
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.#flush();
      this.#startPinging();
      this.#emit('open', { reconnected });
    });
    socket.addEventListener('message', (event) => this.#receive(event.data));
    socket.addEventListener('close', (event) => this.#closed(socket, event));
  }

  /** Send a control message; queued (bounded) while the socket is reconnecting. */
  send(type, fields = {}) {
    const text = JSON.stringify({ type, ...fields });
    if (this.isOpen) {
      this.socket.send(text);
      return true;
    }
    if (!this.ended && this.queue.length < MAX_QUEUED_MESSAGES) this.queue.push(text);
    return false;
  }

  /** Send one binary microphone frame; dropped when the socket is down or backed up. */
  sendAudio(buffer) {
    if (!this.isOpen || this.socket.bufferedAmount > MAX_BUFFERED_BYTES) return false;
    this.socket.send(buffer);
    return true;
  }

  /** The session is over: stop reconnecting and close quietly. */
  finish() {
    this.ended = true;
    this.queue = [];
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    if (this.socket && this.socket.readyState <= OPEN) this.socket.close(1000, 'session over');
  }

  #receive(data) {
    if (typeof data !== 'string') return; // the server never sends binary frames
    let message;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (!message || typeof message.type !== 'string') return;
    this.attempt = 0;
    if (message.type === 'pong' && typeof message.t === 'number') {
      this.rttMs = Math.max(0, Math.round(performance.now() - message.t));
    }
    this.#emit('message', message);
  }

  #closed(socket, event) {
    if (socket !== this.socket) return;
    clearInterval(this.pingTimer);
    if (this.ended || isFinalClose(event.code)) {
      this.ended = true;
      this.queue = [];
      this.#emit('closed', { code: event.code, reason: event.reason });
      return;
    }
    if (this.attempt >= this.maxRetries) {
      this.ended = true;
      this.queue = [];
      this.#emit('gave-up', { attempts: this.attempt, code: event.code });
      return;
    }
    this.attempt += 1;
    const delayMs = backoffDelay(this.attempt, this, this.random);
    this.#emit('reconnecting', { attempt: this.attempt, maxRetries: this.maxRetries, delayMs, code: event.code });
    this.retryTimer = this.schedule(() => this.connect(), delayMs);
  }

  #flush() {
    const pending = this.queue;
    this.queue = [];
    for (const text of pending) this.socket.send(text);
  }

  #startPinging() {
    clearInterval(this.pingTimer);
    this.send('ping', { t: performance.now() }); // a first round trip right away, for the readout
    this.pingTimer = setInterval(() => this.send('ping', { t: performance.now() }), this.pingEveryMs);
  }

  #emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }
}

// Which of the stage's two videos is shown: the avatar's idle loop or the live stream. Pure: no
// DOM, no media; the page feeds it what happened and shows what it answers.
//
// As in D-ID's own demo (https://github.com/de-id/live-streaming-demo, streaming-client-api.js):
// the live stream is not shown before the stream is ready, which is D-ID's `stream/ready` on the
// data channel (sent once warm-up is over) or, if that never comes, 5 s after the peer connected.
// Once ready, the live stream shows while the avatar talks (`stream/started` .. `stream/done`)
// and the idle loop the rest of the time. An avatar without an idle loop always shows the live
// stream (its poster covers the stage until frames flow).

export const READY_FALLBACK_MS = 5000;

export const IDLE = 'idle';
export const LIVE = 'live';

export class StageState {
  /**
   * @param {object} options
   * @param {boolean} options.hasIdleVideo whether the avatar has an idle loop to show
   * @param {(shown: string, state: StageState) => void} [options.onChange] called when what is shown or `ready` changes
   * @param {(run: () => void, ms: number) => any} [options.schedule] setTimeout, or a test's fake
   * @param {(handle: any) => void} [options.cancel] clearTimeout, or a test's fake
   */
  constructor({
    hasIdleVideo,
    onChange = () => {},
    // Wrapped: a browser's setTimeout called as a method of this object throws "Illegal invocation".
    schedule = (run, ms) => setTimeout(run, ms),
    cancel = (handle) => clearTimeout(handle),
  } = {}) {
    this.hasIdleVideo = Boolean(hasIdleVideo);
    this.onChange = onChange;
    this.schedule = schedule;
    this.cancel = cancel;
    this.ready = false;
    this.readyBy = null; // 'stream/ready' | 'fallback': how this stream became ready
    this.talking = false;
    this.timer = null;
    this.stream = 0; // counts streams, so a late fallback of an old one is ignored
    this.shown = this.#decide();
    this.reported = { shown: this.shown, ready: false };
  }

  /**
   * One thing that happened: 'offer' (a new stream, e.g. after a reconnect), 'connected' (its
   * peer connected), 'stream/ready', 'stream/started', 'stream/done', 'stream/error', 'closed'.
   * Unknown events change nothing. Returns what is shown now: IDLE or LIVE.
   */
  handle(event) {
    switch (event) {
      case 'offer':
      case 'closed':
        this.#stopTimer();
        this.stream += 1;
        this.ready = false;
        this.readyBy = null;
        this.talking = false;
        break;
      case 'connected':
        if (!this.ready && this.timer === null) {
          const stream = this.stream;
          this.timer = this.schedule(() => {
            if (stream !== this.stream) return;
            this.timer = null;
            this.#becomeReady('fallback');
          }, READY_FALLBACK_MS);
        }
        break;
      case 'stream/ready':
        this.#becomeReady('stream/ready');
        break;
      case 'stream/started':
        this.talking = true;
        break;
      case 'stream/done':
      case 'stream/error':
        this.talking = false;
        break;
      default:
        return this.shown;
    }
    this.#update();
    return this.shown;
  }

  #becomeReady(by) {
    this.#stopTimer();
    if (this.ready) return;
    this.ready = true;
    this.readyBy = by;
    this.#update();
  }

  #stopTimer() {
    if (this.timer !== null) this.cancel(this.timer);
    this.timer = null;
  }

  #decide() {
    if (!this.hasIdleVideo) return LIVE;
    return this.ready && this.talking ? LIVE : IDLE;
  }

  #update() {
    this.shown = this.#decide();
    if (this.shown === this.reported.shown && this.ready === this.reported.ready) return;
    this.reported = { shown: this.shown, ready: this.ready };
    this.onChange(this.shown, this);
  }
}

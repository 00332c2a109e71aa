// Server frames to the page's handlers. Media frames (the offer, ICE candidates, room joins and
// room commands) are applied strictly in order, each after the previous one has finished; the
// others are handled at once. No DOM here: tested in node (tests/js/frame-dispatch.test.mjs).

// In order, after the join: a room command must not overtake the room it goes to.
export const MEDIA_MESSAGES = new Set(['rtc.offer', 'rtc.ice', 'livekit.join', 'livekit.data', 'stream.replacing']);

/**
 * A function that hands each server frame to `handlers[frame.type]` (frames nobody handles are
 * ignored); a handler's failure goes to `onError(type, error)` and stops nothing else.
 */
export function frameDispatcher(handlers, {
  inOrder = MEDIA_MESSAGES,
  onError = (type, error) => console.error(`handling ${type}`, error),
} = {}) {
  let queue = Promise.resolve();
  return (message) => {
    const handler = handlers[message.type];
    if (!handler) return;
    // async: a handler that throws at once becomes a rejection caught here, so the in-order
    // queue never turns into a rejected promise that drops every media frame after it.
    const run = async () => {
      try {
        await handler(message);
      } catch (error) {
        onError(message.type, error);
      }
    };
    if (inOrder.has(message.type)) queue = queue.then(run);
    else run();
  };
}

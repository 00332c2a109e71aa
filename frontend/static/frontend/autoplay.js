// Sound on the avatar's video within the browser's autoplay policy: play with sound; if the
// browser blocks that, play muted and offer a click to unmute. No DOM lookups here: tested in
// node with a fake video (tests/js/autoplay.test.mjs).

/**
 * Play `video` with sound; if the browser blocks it, play muted and `showUnmute(true)`.
 * `unmuteOffered`: sound was blocked already, so keep playing muted until the user clicks.
 */
export async function playWithSound(video, { unmuteOffered, showUnmute }) {
  if (unmuteOffered) {
    await video.play().catch(() => {});
    return;
  }
  video.muted = false;
  try {
    await video.play();
    showUnmute(false);
  } catch (error) {
    if (error.name === 'AbortError') return; // a newer srcObject/play() superseded this one
    video.muted = true;
    showUnmute(true);
    await video.play().catch(() => {});
  }
}

// What to tell the user when something goes wrong or the conversation ends, from the stable
// codes the server (and the browser) use. Unknown codes fall back to the server's own message.

const ERRORS = {
  session_limit: 'You already have the maximum number of live conversations open. End one and try again.',
  provider_unavailable: "The avatar service isn't reachable right now. Please try again in a moment.",
  provider_rejected: 'The avatar service refused the request. Check the avatar settings or the account.',
  provider_rate_limited: 'The avatar service is busy (too many requests). Please try again shortly.',
  provider_auth: 'The avatar service rejected our credentials. An administrator needs to check the API key.',
  provider_quota: 'The avatar service account has run out of credits.',
  provider_not_configured: "This avatar's service isn't configured yet. Ask an administrator.",
  provider_not_found: 'The avatar service lost this session. Start a new conversation.',
  provider_bad_response: 'The avatar service answered with something we could not understand.',
  provider_error: 'The avatar service reported an error.',
  avatar_error: "The avatar couldn't play that reply.",
  stt_unavailable: "Speech recognition isn't available right now. You can still type.",
  stt_error: 'Speech recognition stopped. Turn the mic off and on again, or type instead.',
  llm_unavailable: "The assistant couldn't answer just now. Please try again.",
  timeout: 'The avatar service took too long to answer.',
  rate_limited: 'You are sending messages too fast; wait a moment.',
  bad_frame: "The server couldn't read what the page sent.",
  bad_audio: "The server couldn't read the microphone audio.",
  too_large: 'That message is too long.',
  empty_text: 'The message is empty.',
  no_stream: 'The avatar is still connecting; try again in a second.',
  // Raised in the browser, not by the server.
  ice_failed: "Couldn't open the video connection to the avatar (network or firewall). A TURN server may be needed.",
  media_failed: 'The video connection to the avatar failed.',
  mic_denied: "Microphone access was denied. Allow it in the browser's site settings, or type instead.",
  mic_missing: 'No microphone was found. You can still type.',
  mic_failed: "The microphone couldn't be started.",
  start_failed: "Couldn't start the conversation.",
  logged_out: 'Your login has expired. Reload the page and log in again.',
};

const ENDINGS = {
  user: 'You ended the conversation.',
  disconnect: 'The conversation ended because the page lost its connection.',
  timeout: 'The conversation ended after being idle for a while.',
  provider_error: 'The conversation ended because the avatar service failed.',
  stt_error: 'The conversation ended because speech recognition failed.',
  server_error: 'The conversation ended because of a server error.',
  connection_lost: 'Lost the connection to the server.',
};

const FAILED_ENDINGS = new Set(['provider_error', 'stt_error', 'server_error', 'connection_lost']);

/** A friendly sentence for an `error {code, message}`. */
export function describeError(code, message) {
  return ERRORS[code] ?? message ?? 'Something went wrong.';
}

/** {text, failed} for `session.ended {reason, message}`. */
export function describeEnd(reason, message) {
  const failed = FAILED_ENDINGS.has(reason);
  let text = ENDINGS[reason] ?? message ?? 'The conversation has ended.';
  if (failed && message && ENDINGS[reason]) text = `${text} (${message})`;
  return { text, failed };
}

/** {text, reason} when the server closes the socket without a session.ended first. */
export function describeClose(code) {
  switch (code) {
    case 4401:
      return { reason: 'logged_out', text: ERRORS.logged_out };
    case 4404:
      return { reason: 'not_found', text: "This conversation doesn't exist (or isn't yours)." };
    case 4410:
      return { reason: 'ended', text: 'This conversation has already ended.' };
    case 4429:
      return { reason: 'session_limit', text: ERRORS.session_limit };
    default:
      return { reason: 'closed', text: 'The server closed the connection.' };
  }
}

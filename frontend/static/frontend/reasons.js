// What to tell the user when something goes wrong or the conversation ends. The codes and their
// sentences come from error-codes.js, generated from the server's list (streaming/error_codes.py),
// so the page and the server cannot disagree. Unknown codes fall back to the server's own message.

import { ENDINGS, ERRORS, FAILED_ENDINGS } from './error-codes.js';

/** A friendly sentence for an `error {code, message}`. */
export function describeError(code, message) {
  return ERRORS[code]?.text ?? message ?? 'Something went wrong.';
}

/** Which service an error code blames: avatar | stt | llm | server | browser (null if unknown). */
export function serviceOf(code) {
  return ERRORS[code]?.service ?? null;
}

/** {text, failed} for `session.ended {reason, message}`. */
export function describeEnd(reason, message) {
  const failed = FAILED_ENDINGS.includes(reason);
  let text = ENDINGS[reason] ?? message ?? 'The conversation has ended.';
  if (failed && message && ENDINGS[reason]) text = `${text} (${message})`;
  return { text, failed };
}

/** {text, reason} when the server closes the socket without a session.ended first. */
export function describeClose(code) {
  switch (code) {
    case 4401:
      return { reason: 'logged_out', text: describeError('logged_out') };
    case 4404:
      return { reason: 'not_found', text: "This conversation doesn't exist (or isn't yours)." };
    case 4410:
      return { reason: 'ended', text: 'This conversation has already ended.' };
    case 4429:
      return { reason: 'session_limit', text: describeError('session_limit') };
    default:
      return { reason: 'closed', text: 'The server closed the connection.' };
  }
}

// Generated from streaming/error_codes.py by `python -m streaming.error_codes`: do not
// edit. Every error code (with the service it blames) and session ending the page shows.
export const ERRORS = Object.freeze({
  "avatar_unavailable": {
    "service": "avatar",
    "text": "The avatar service isn't reachable right now. Please try again in a moment."
  },
  "avatar_rate_limited": {
    "service": "avatar",
    "text": "The avatar service is busy (too many requests). Please try again shortly."
  },
  "avatar_auth": {
    "service": "avatar",
    "text": "The avatar service refused our credentials. An administrator needs to check the API key and the account's permissions."
  },
  "avatar_quota": {
    "service": "avatar",
    "text": "The avatar service account has run out of credits."
  },
  "avatar_rejected": {
    "service": "avatar",
    "text": "The avatar service refused the request. An administrator needs to check the avatar's settings."
  },
  "avatar_not_found": {
    "service": "avatar",
    "text": "The avatar service lost this session. Start a new conversation."
  },
  "avatar_not_configured": {
    "service": "avatar",
    "text": "This avatar's service isn't configured yet. Ask an administrator."
  },
  "avatar_busy": {
    "service": "avatar",
    "text": "All avatar sessions of our account are in use. Please try again in a few minutes."
  },
  "avatar_error": {
    "service": "avatar",
    "text": "The avatar service reported an error."
  },
  "stt_unavailable": {
    "service": "stt",
    "text": "Speech recognition isn't available right now. You can still type."
  },
  "stt_rate_limited": {
    "service": "stt",
    "text": "Speech recognition is busy (too many requests). Try again shortly, or type."
  },
  "stt_auth": {
    "service": "stt",
    "text": "The speech recognition service refused our credentials. An administrator needs to check its API key. You can still type."
  },
  "stt_quota": {
    "service": "stt",
    "text": "The speech recognition account has run out of credits. You can still type."
  },
  "stt_rejected": {
    "service": "stt",
    "text": "The speech recognition service refused our request. An administrator needs to check its settings. You can still type."
  },
  "stt_error": {
    "service": "stt",
    "text": "Speech recognition stopped. Turn the mic off and on again, or type instead."
  },
  "llm_unavailable": {
    "service": "llm",
    "text": "The assistant couldn't answer just now: its language model isn't reachable. Please try again."
  },
  "llm_rate_limited": {
    "service": "llm",
    "text": "The assistant's language model is busy (too many requests). Please try again shortly."
  },
  "llm_auth": {
    "service": "llm",
    "text": "The language model service refused our credentials. An administrator needs to check its API key."
  },
  "llm_quota": {
    "service": "llm",
    "text": "The language model account has run out of credits."
  },
  "llm_rejected": {
    "service": "llm",
    "text": "The language model service refused our request. An administrator needs to check the model settings."
  },
  "session_limit": {
    "service": "server",
    "text": "You already have the maximum number of live conversations open. End one and try again."
  },
  "too_large": {
    "service": "server",
    "text": "That message is too long."
  },
  "empty_text": {
    "service": "server",
    "text": "The message is empty."
  },
  "no_stream": {
    "service": "server",
    "text": "The avatar is still connecting; try again in a second."
  },
  "bad_audio": {
    "service": "server",
    "text": "The server couldn't read the microphone audio."
  },
  "chat_rate_limited": {
    "service": "server",
    "text": "You are sending messages too fast; wait a moment."
  },
  "voice_rate_limited": {
    "service": "server",
    "text": "You are speaking turns too fast; wait a moment."
  },
  "signaling_rate_limited": {
    "service": "server",
    "text": "The page sent too many connection messages; wait a moment."
  },
  "audio_quota": {
    "service": "server",
    "text": "You have used today's allowance of microphone audio. You can still type."
  },
  "token_quota": {
    "service": "server",
    "text": "You have used today's allowance of answers."
  },
  "server_busy": {
    "service": "server",
    "text": "The server is busy starting conversations. Try again."
  },
  "server_unavailable": {
    "service": "server",
    "text": "The server cannot start conversations right now. Try again in a minute."
  },
  "reply_lost": {
    "service": "server",
    "text": "The avatar's answer was lost (a server process stopped). Please ask again."
  },
  "broker_unavailable": {
    "service": "server",
    "text": "The server could not queue the avatar's answer. Please try again."
  },
  "reply_timeout": {
    "service": "server",
    "text": "The avatar took too long to answer. Please ask again."
  },
  "reply_failed": {
    "service": "server",
    "text": "Something went wrong while the avatar was answering. Please ask again."
  },
  "language_unsupported": {
    "service": "server",
    "text": "This avatar's language isn't supported here: the local engine speaks English only. An administrator needs to set the avatar's language to English or use the cloud services."
  },
  "bad_json": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "bad_message": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "missing_field": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "invalid_field": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "unknown_type": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "bad_sdp": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "bad_ice": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "too_deep": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "bad_number": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "invalid_text": {
    "service": "server",
    "text": "The server couldn't read what the page sent. Reloading the page may help."
  },
  "session_busy": {
    "service": "server",
    "text": "This conversation is still starting in another tab or window; try again in a moment."
  },
  "server_error": {
    "service": "server",
    "text": "Something went wrong on the server. The conversation may need to be started again."
  },
  "ice_failed": {
    "service": "avatar",
    "text": "Couldn't open the video connection to the avatar (network or firewall). A TURN server may be needed."
  },
  "media_failed": {
    "service": "avatar",
    "text": "The video connection to the avatar failed."
  },
  "mic_denied": {
    "service": "browser",
    "text": "Microphone access was denied. Allow it in the browser's site settings, or type instead."
  },
  "mic_missing": {
    "service": "browser",
    "text": "No microphone was found. You can still type."
  },
  "mic_failed": {
    "service": "browser",
    "text": "The microphone couldn't be started."
  },
  "start_failed": {
    "service": "server",
    "text": "Couldn't start the conversation."
  },
  "logged_out": {
    "service": "server",
    "text": "Your login has expired. Reload the page and log in again."
  }
});

export const ENDINGS = Object.freeze({
  "user": "You ended the conversation.",
  "disconnect": "The conversation ended because the page lost its connection.",
  "timeout": "The conversation ended after being idle for a while.",
  "provider_error": "The conversation ended because the avatar service failed.",
  "stt_error": "The conversation ended because speech recognition failed.",
  "server_error": "The conversation ended because of a server error.",
  "connection_lost": "Lost the connection to the server.",
  "taken_over": "This conversation continues in another tab or window."
});

export const FAILED_ENDINGS = Object.freeze([
  "provider_error",
  "stt_error",
  "server_error",
  "connection_lost"
]);

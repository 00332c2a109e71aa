// Which media transport an avatar needs, made when its first frame says so: plain WebRTC (D-ID,
// the local engine) or a LiveKit room (HeyGen, LiveAvatar), whose SDK is loaded only then.

import { WebRTCTransport } from './webrtc.js';

/**
 * A new transport of `kind` ('webrtc' | 'livekit', as `session.created` names it) playing into
 * `video`; `send(type, fields)` is how a WebRTC transport signals. Rejects only when LiveKit's
 * modules cannot be loaded.
 */
export async function createTransport(kind, video, send) {
  if (kind !== 'livekit') return new WebRTCTransport(video, send);
  // Loaded only for LiveKit avatars: the SDK is 1.4 MB that D-ID and the engine never need.
  const [{ LiveKitTransport }, livekit] = await Promise.all([
    import('./livekit.js'),
    import('./vendor/livekit-client.esm.mjs'),
  ]);
  return new LiveKitTransport(video, livekit);
}

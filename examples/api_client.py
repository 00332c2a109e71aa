"""Start a live session through LivePersona's JSON API and make the avatar say one line.

    python examples/api_client.py --url http://127.0.0.1:8000 --token lp_... --avatar demo \\
        "Hello from a program!"

Get a token on the site's "API tokens" page (or `manage.py api_token create USER`). The avatar
stream opens when a client attaches to the session's WebSocket; a real program answers the
`rtc.offer` that arrives there with its own WebRTC stack to receive the video. This example only
attaches, waits for the stream, has the line said and stops the session.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from contextlib import asynccontextmanager

import httpx
from websockets.asyncio.client import connect


class ApiError(Exception):
    pass


async def call(api: httpx.AsyncClient, method: str, path: str, **kwargs) -> dict:
    response = await api.request(method, path, **kwargs)
    body = response.json() if response.content else {}
    if response.is_error:
        error = body.get("error", {})
        raise ApiError(f"{method} {path}: {response.status_code} {error.get('code')}: "
                       f"{error.get('message')}")
    return body


@asynccontextmanager
async def websocket(url: str, token: str, origin: str):
    """The session's WebSocket, signed in with the token (the Origin must be the site's)."""
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"},
                       origin=origin) as socket:
        yield socket


async def wait_for(socket, kind: str, within: float = 30.0) -> dict:
    async with asyncio.timeout(within):
        while True:
            message = json.loads(await socket.recv())
            if message["type"] == kind:
                return message
            if message["type"] in ("error", "session.ended"):
                raise ApiError(f"{message['type']}: {message.get('message')}")


async def say_line(api: httpx.AsyncClient, avatar: str, line: str, *, attach) -> dict:
    """Start a session with `avatar`, attach with `attach(websocket_url)`, say `line`, stop."""
    session = await call(api, "POST", "sessions", json={"avatar": avatar})
    stop = f"sessions/{session['conversation']}/stop"
    try:
        async with attach(session["websocket"]) as socket:
            await wait_for(socket, "rtc.offer")  # the avatar stream is open
            spoken = await call(api, "POST", f"sessions/{session['conversation']}/text",
                                json={"text": line, "generate_ai_response": False})
            await call(api, "POST", stop)
            await wait_for(socket, "session.ended")
            return spoken
    except BaseException:
        await call(api, "POST", stop)  # stopping twice is harmless
        raise


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", required=True)
    parser.add_argument("--avatar", required=True, help="the avatar's slug (GET /api/v1/avatars)")
    parser.add_argument("line")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.token}"}
    async with httpx.AsyncClient(base_url=f"{args.url}/api/v1/", headers=headers,
                                 timeout=60) as api:
        spoken = await say_line(
            api, args.avatar, args.line,
            attach=lambda url: websocket(url, args.token, origin=args.url),
        )
    print(f"The avatar said {spoken['text']!r} (about {spoken['speaking_duration']} s; "
          f"message {spoken['message_id']}).")


if __name__ == "__main__":
    asyncio.run(main())

"""Count, on the wire, what an ASGI WebSocket application received and sent, and serve the counts.

The third-party servers of the protocol tests run under uvicorn wrapped in :class:`Counted`: a
text message the application received (``websocket.receive``) or handed to uvicorn
(``websocket.send`` that returned) is classified by ``classify`` and counted, and
``GET /counts`` (``?reset=1`` to zero them) answers the counts as JSON. A message sent is
counted only once uvicorn took it, so what the server counts as sent is what a client reading
until the close saw.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Classify = Callable[[str], str]


class Counted:
    """An ASGI application counting another's WebSocket messages (see the module docstring)."""

    def __init__(
        self, app: App, classify: Classify, extra: Callable[[], dict[str, Any]] | None = None
    ) -> None:
        self.app = app
        self.classify = classify
        self.extra = extra or (lambda: {})
        self.received: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.sessions = 0

    def counts(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "received": dict(self.received),
            "sent": dict(self.sent),
            **self.extra(),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/counts":
            await self._serve_counts(scope, send)
            return
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "websocket.receive" and message.get("text") is not None:
                self.received[self.classify(message["text"])] += 1
            elif message["type"] == "websocket.connect":
                self.sessions += 1
            return message

        async def counted_send(message: Message) -> None:
            await send(message)
            if message["type"] == "websocket.send" and message.get("text") is not None:
                self.sent[self.classify(message["text"])] += 1

        await self.app(scope, counted_receive, counted_send)

    async def _serve_counts(self, scope: Scope, send: Send) -> None:
        body = json.dumps(self.counts()).encode()
        if b"reset=1" in scope.get("query_string", b""):
            self.received.clear()
            self.sent.clear()
            self.sessions = 0
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

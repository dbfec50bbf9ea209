"""Request bodies are capped before they are read into memory.

A declared Content-Length over the cap is refused at once; a body streamed without one is
counted as it arrives and refused as soon as it passes the cap. Either way the client gets
the usual JSON error (``payload_too_large``, 413) through the app's error handlers.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class BodyLimitMiddleware:
    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Larger caps for given paths (the orders intake takes 1,000 orders a request).
        self.path_limits = path_limits if path_limits is not None else {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.path_limits.get(scope.get("path", ""), self.max_bytes)
        declared = _content_length(scope)
        # Refused where the route reads its body: the error handlers then answer, and a
        # route that reads no body (a GET) is unaffected by what it never reads.
        refused = declared is not None and declared > max_bytes
        received = 0

        async def limited() -> Message:
            nonlocal received
            if refused:
                raise HTTPException(413)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise HTTPException(413)
            return message

        await self.app(scope, limited, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None

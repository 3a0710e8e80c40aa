"""Request bodies within their route's limit: 413 problem+json before a body over it is parsed.

A declared Content-Length over the limit is refused before a byte of the body is read; a body sent
without one (chunked) is counted as it streams in and refused as soon as it passes the limit, so a
100 MB JSON body costs neither the time to parse it nor the memory to hold it.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLargeError, TooLargeError, to_problem

# Multipart framing around an uploaded file: allowed on top of the upload limit itself.
MULTIPART_OVERHEAD = 64 * 1024


class BodyLimit:
    """ASGI middleware: each request's body at most `routes[path]` bytes, else `default`.

    `routes` maps exact paths (the upload routes) to their own limit; `setting` names what to raise.
    """

    def __init__(self, app: ASGIApp, default: int, routes: Mapping[str, tuple[int, str]], setting: str) -> None:
        self.app = app
        self.default = (default, setting)
        self.routes = dict(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.routes.get(scope.get("path", ""), self.default)
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            message = f"the request body is {int(declared):,} bytes; at most {limit:,} here ({setting})"
            await to_problem(TooLargeError(message))(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLargeError(
                        f"the request body is over {limit:,} bytes, the most allowed here ({setting})"
                    )
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLargeError as error:
            # Reached here only where no exception handler answered (a body read outside a route).
            if started:
                raise
            await to_problem(TooLargeError(str(error.detail)))(scope, receive, send)

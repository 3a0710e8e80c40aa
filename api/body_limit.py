"""Request bodies within their route's limit: 413 problem+json before a body over it is parsed.

A declared Content-Length over the limit is refused before the body is parsed or held; a body sent
without one (chunked) is counted as it streams in and refused as soon as it passes the limit, so a
100 MB JSON body costs neither the time to parse it nor the memory to hold it.

Before answering, the rest of the body is read and dropped (up to LINGER_BYTES), as nginx's
lingering close does: a server that answers while the client is still sending closes the
connection under it, and most clients (urllib, requests) then report a reset instead of the 413.
A client that asked to be told first (Expect: 100-continue, as curl does) is answered at once.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import BodyTooLargeError, TooLargeError, to_problem

# Multipart framing around an uploaded file: allowed on top of the upload limit itself.
MULTIPART_OVERHEAD = 64 * 1024
# The most of a refused body read and dropped so that its client can read the answer; past it the
# connection is closed instead (a 10 GB body is not worth reading to be polite).
LINGER_BYTES = 256 * 1024 * 1024


async def _drop_rest(receive: Receive, budget: int) -> None:
    """Read and drop what is left of the request body, at most `budget` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client went away
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodyLimit:
    """ASGI middleware: each request's body at most `routes[path]` bytes, else `default`.

    `routes` maps exact paths (the upload routes) to their own limit and the setting that sets it;
    `setting` names the one that sets `default`.
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
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length", b"")
        linger = headers.get(b"expect", b"").lower() != b"100-continue"
        if declared.isdigit() and int(declared) > limit:
            if linger and int(declared) <= LINGER_BYTES:
                await _drop_rest(receive, LINGER_BYTES)
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
                    if message.get("more_body", False):
                        await _drop_rest(receive, LINGER_BYTES)
                    detail = f"the request body is over {limit:,} bytes, the most allowed here ({setting})"
                    raise BodyTooLargeError(detail)
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

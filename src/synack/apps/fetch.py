"""An HTTP/1.1 GET client (``synack fetch URL``), with h11 doing all the parsing.

The connection is opened through an injectable ``open_connection`` so the same client runs
over the kernel's TCP or over synack's. One request per connection (``Connection: close``),
no redirects followed: what the server answered is what the caller gets.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlsplit

import h11

READ_SIZE = 256 * 1024
USER_AGENT = "synack-fetch"

OpenConnection = Callable[[str, int], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class FetchError(Exception):
    """The URL cannot be fetched, or the server's answer is not valid HTTP."""


@dataclass(frozen=True)
class FetchResult:
    status: int
    reason: str
    headers: list[tuple[str, str]]
    body_bytes: int

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), if present."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)


@dataclass(frozen=True)
class _Target:
    host: str
    port: int
    host_header: str
    path: str


def _parse_url(url: str) -> _Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"bad URL {url!r}: {exc}") from None
    if parts.scheme.lower() != "http":
        shown = parts.scheme or "no scheme"
        raise FetchError(f"only http:// URLs can be fetched, not {shown!r}: {url!r}")
    host = parts.hostname
    if not host:
        raise FetchError(f"URL {url!r} names no host")
    literal = f"[{host}]" if ":" in host else host
    host_header = literal if port is None or port == 80 else f"{literal}:{port}"
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _Target(host, 80 if port is None else port, host_header, path)


async def fetch(
    url: str,
    *,
    open_connection: OpenConnection = asyncio.open_connection,
    out: BinaryIO,
) -> FetchResult:
    """GET ``url`` and write the response body to ``out`` as it arrives.

    Any status is a result, not an error; errors are for what makes the answer unusable:
    a non-http URL, a response that is not HTTP, or a body cut short of its Content-Length.
    """
    target = _parse_url(url)
    reader, writer = await open_connection(target.host, target.port)
    try:
        return await _exchange(target, reader, writer, out)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def _exchange(
    target: _Target,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    out: BinaryIO,
) -> FetchResult:
    conn = h11.Connection(h11.CLIENT)
    request = h11.Request(
        method="GET",
        target=target.path,
        headers=[
            ("Host", target.host_header),
            ("User-Agent", USER_AGENT),
            ("Accept", "*/*"),
            ("Connection", "close"),
        ],
    )
    writer.write((conn.send(request) or b"") + (conn.send(h11.EndOfMessage()) or b""))
    await writer.drain()

    response: h11.Response | None = None
    received = 0
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            raise _explain(exc, response, received) from None
        if event is h11.NEED_DATA:
            conn.receive_data(await reader.read(READ_SIZE))
        elif isinstance(event, h11.Response):
            response = event
        elif isinstance(event, h11.Data):
            out.write(event.data)
            received += len(event.data)
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
        # InformationalResponse (1xx): the final response is still to come.
    if response is None:
        raise FetchError("the server closed the connection without answering")
    return FetchResult(
        status=response.status_code,
        reason=response.reason.decode("latin-1"),
        headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.headers],
        body_bytes=received,
    )


def _explain(
    exc: h11.RemoteProtocolError, response: h11.Response | None, received: int
) -> FetchError:
    if response is None:
        return FetchError(f"the server's answer is not a valid HTTP response: {exc}")
    length = dict(response.headers).get(b"content-length")
    if length is not None:
        return FetchError(
            f"body cut short: got {received} of {length.decode('latin-1')} bytes "
            "(Content-Length) before the connection closed"
        )
    return FetchError(f"the server's response body is not valid HTTP: {exc}")

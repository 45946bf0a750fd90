"""A static-file HTTP/1.1 server (port 80), with h11 doing all the parsing.

Only GET and HEAD are served. Every request path is checked against the root after
percent-decoding and after resolving symlinks, and anything that would leave the root is
answered exactly like a missing file (404), so a probe learns nothing about what lies
outside. Files are streamed in 1 MiB pieces with backpressure, never loaded whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote_to_bytes, urlsplit

import h11

from synack.apps.echo import PEER_GONE, close_quietly

FILE_CHUNK = 1024 * 1024
READ_SIZE = 64 * 1024
DEFAULT_IDLE_TIMEOUT = 30.0
ALLOWED_METHODS = (b"GET", b"HEAD")
SERVER_NAME = b"synack"


class _Closed(Exception):
    """The connection ended (EOF, idle timeout or peer error): stop serving it quietly."""


class StaticFiles:
    """An asyncio stream handler serving the files under ``root``.

    ``idle_timeout`` bounds how long a connection may sit between requests (or in the
    middle of one), and how long a client may leave a response unread, before it is
    closed: idle keep-alive clients and stalled readers cannot pin connections and files.
    """

    def __init__(
        self, root: str | os.PathLike[str], *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    ) -> None:
        resolved = Path(root).resolve()
        if not resolved.is_dir():
            raise ValueError(f"http root {str(root)!r} is not a directory")
        if idle_timeout <= 0:
            raise ValueError(f"idle timeout must be positive, not {idle_timeout}")
        self.root = resolved
        self.idle_timeout = idle_timeout

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                try:
                    request = await self._next_request(conn, reader)
                except h11.RemoteProtocolError as exc:
                    if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                        with contextlib.suppress(h11.LocalProtocolError):
                            await self._send_simple(conn, writer, exc.error_status_hint, b"GET")
                    return
                if request is None:
                    return
                await self._respond(conn, writer, request)
                if not await self._finish_request(conn, reader):
                    return
                conn.start_next_cycle()
        except _Closed:
            pass
        except PEER_GONE:
            writer.transport.abort()
        finally:
            await close_quietly(writer)

    async def _receive(self, conn: h11.Connection, reader: asyncio.StreamReader) -> None:
        try:
            async with asyncio.timeout(self.idle_timeout):
                data = await reader.read(READ_SIZE)
        except TimeoutError:
            raise _Closed from None
        conn.receive_data(data)

    async def _drain(self, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(self.idle_timeout):
                await writer.drain()
        except TimeoutError:
            writer.transport.abort()  # a graceful close would wait on the stalled reader
            raise _Closed from None

    async def _next_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> h11.Request | None:
        """The next request's head, or None once the client has closed cleanly."""
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                await self._receive(conn, reader)
            elif isinstance(event, h11.Request):
                return event
            else:  # ConnectionClosed, or PAUSED after a close was agreed
                return None

    async def _finish_request(self, conn: h11.Connection, reader: asyncio.StreamReader) -> bool:
        """Read past the request body; True if the connection may carry another request."""
        while conn.their_state is h11.SEND_BODY:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError:
                return False
            if event is h11.NEED_DATA:
                await self._receive(conn, reader)
            elif isinstance(event, h11.ConnectionClosed):
                return False
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE

    async def _respond(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request
    ) -> None:
        method = request.method
        if method not in ALLOWED_METHODS:
            await self._send_simple(conn, writer, 405, method, [(b"Allow", b"GET, HEAD")])
            return
        path = self.resolve_target(request.target)
        if path is None:
            await self._send_simple(conn, writer, 404, method)
            return
        try:
            file = path.open("rb")
        except OSError:
            await self._send_simple(conn, writer, 404, method)
            return
        with file:
            await self._send_file(conn, writer, file, path, method)

    def resolve_target(self, target: bytes) -> Path | None:
        """The regular file a request target names inside the root, or None (a 404)."""
        if target.startswith(b"/"):
            raw_path = target.split(b"?", 1)[0].split(b"#", 1)[0]
        elif target.lower().startswith((b"http://", b"https://")):
            raw_path = urlsplit(target).path or b"/"
        else:
            return None
        decoded = unquote_to_bytes(raw_path)
        if b"\x00" in decoded:
            return None
        try:
            text = decoded.decode("utf-8")
        except UnicodeDecodeError:
            return None
        parts = [part for part in text.split("/") if part not in ("", ".")]
        if ".." in parts:
            return None
        candidate = self.root.joinpath(*parts)
        try:
            resolved = candidate.resolve(strict=True)
            if resolved.is_dir():
                resolved = (resolved / "index.html").resolve(strict=True)
            if not resolved.is_file():
                return None
        except (OSError, RuntimeError):  # missing, unreadable, or a symlink loop
            return None
        if not resolved.is_relative_to(self.root):
            return None
        return resolved

    async def _send_file(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        file: BinaryIO,
        path: Path,
        method: bytes,
    ) -> None:
        size = os.fstat(file.fileno()).st_size
        headers = [
            (b"Content-Type", content_type(path)),
            (b"Content-Length", str(size).encode()),
            (b"Server", SERVER_NAME),
        ]
        writer.write(conn.send(h11.Response(status_code=200, headers=headers)) or b"")
        if method == b"GET":
            remaining = size
            while remaining:
                chunk = file.read(min(FILE_CHUNK, remaining))
                if not chunk:
                    # The file shrank after Content-Length went out: the only honest
                    # thing left is to cut the connection so the client sees it short.
                    writer.transport.abort()
                    raise _Closed
                remaining -= len(chunk)
                writer.writelines(conn.send_with_data_passthrough(h11.Data(data=chunk)) or [])
                await self._drain(writer)
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await self._drain(writer)

    async def _send_simple(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        method: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """A short text response for an error status."""
        body = f"{status} {HTTPStatus(status).phrase}\n".encode()
        headers = [
            (b"Content-Type", b"text/plain; charset=utf-8"),
            (b"Content-Length", str(len(body)).encode()),
            (b"Server", SERVER_NAME),
            *(extra or []),
        ]
        if status == 400 or status == 431:  # the request stream can no longer be trusted
            headers.append((b"Connection", b"close"))
        writer.write(conn.send(h11.Response(status_code=status, headers=headers)) or b"")
        if method != b"HEAD":
            writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await self._drain(writer)


def content_type(path: Path) -> bytes:
    """A Content-Type from the file name; compressed files are opaque octets."""
    guessed, encoding = mimetypes.guess_type(path.name)
    if guessed is None or encoding is not None:
        return b"application/octet-stream"
    return guessed.encode()


def http_handler(
    root: str | os.PathLike[str], *, idle_timeout: float = DEFAULT_IDLE_TIMEOUT
) -> StaticFiles:
    """The stream handler the ``http`` service runs."""
    return StaticFiles(root, idle_timeout=idle_timeout)

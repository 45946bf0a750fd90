"""The control socket of ``synack serve``: ``synack ss`` and ``synack nstat`` on a live stack.

A running server has no terminal to type into, and its stack lives in its own process, so
the views of `synack.trace.inspect` reach it through a local AF_UNIX stream socket, served
on the stack's own event loop. The protocol is one request line (``ss``, ``ss -o``,
``nstat``), answered by the view's text, then the server closes the connection. A request
it does not know gets one line starting with ``error:``.

The socket file is 0600 in a 0700 directory: the views show every peer's address, which
is no business of other local users. Its default place is ``/run/synack/<TUN>.sock``.
TUN names are per network namespace while the file system is shared, so in a namespace
named by ``ip netns add`` the file name also carries the namespace's
(``<TUN>@<netns>.sock``); a client started in the same namespace finds the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import socket
import stat
from collections.abc import Callable
from pathlib import Path

from synack.stack import Stack
from synack.trace.inspect import nstat, ss

DEFAULT_DIR = Path("/run/synack")
#: A request is one short line: anything longer is not one of ours.
MAX_REQUEST = 256
#: A client that has not sent its line by then is cut off, so it cannot pin a slot.
REQUEST_TIMEOUT_S = 5.0
#: Clients served at once; more get an error line rather than queueing without bound.
MAX_CLIENTS = 16
#: How long ``synack ss`` waits for a reply, and the most it reads of one.
CLIENT_TIMEOUT_S = 10.0
MAX_REPLY = 64 << 20
#: sockaddr_un's sun_path holds 108 bytes, the terminating NUL included.
MAX_PATH = 107

REQUESTS = ("ss", "ss -o", "nstat")

Responder = Callable[[str], str]


class ControlError(Exception):
    """The control socket cannot be served or reached; the message says why and where."""


def _namespace_suffix() -> str:
    """``@name`` when we run in a network namespace named by ``ip netns add``, else ""."""
    try:
        own = os.stat("/proc/self/ns/net")
        named = sorted(Path("/run/netns").iterdir())
    except OSError:  # no /proc, or no named namespaces at all
        return ""
    for entry in named:
        with contextlib.suppress(OSError):
            found = entry.stat()
            if (found.st_dev, found.st_ino) == (own.st_dev, own.st_ino):
                return f"@{entry.name}"
    return ""


def default_path(tun: str) -> Path:
    """Where ``synack serve --tun TUN`` listens unless told ``--control PATH``."""
    return DEFAULT_DIR / f"{tun}{_namespace_suffix()}.sock"


def respond(stack: Stack, request: str, now: int | None = None) -> str:
    """The reply to one request line, for ``stack`` at stack time ``now`` (microseconds).

    Raises ValueError, with the message the client should see, for an unknown request.
    """
    words = request.split()
    if words == ["ss"]:
        return ss(stack, now=now) + "\n"
    if words in (["ss", "-o"], ["ss", "--options"]):
        return ss(stack, timers=True, now=now) + "\n"
    if words == ["nstat"]:
        return nstat(stack) + "\n"
    shown = request if len(request) <= 40 else request[:40] + "..."
    raise ValueError(f"unknown request {shown!r} (known: {', '.join(REQUESTS)})")


def _check_path(path: Path) -> None:
    """Make room for our socket at ``path``: refuse a live server or a file that is not a
    socket, remove a stale socket that nobody answers on."""
    if len(os.fsencode(path)) > MAX_PATH:
        raise ControlError(f"control socket path {path} is longer than {MAX_PATH} bytes")
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ControlError(f"cannot use control socket {path}: {exc.strerror or exc}") from None
    if not stat.S_ISSOCK(mode):
        raise ControlError(f"{path} exists and is not a socket: not replacing it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(os.fspath(path))
    except (ConnectionRefusedError, FileNotFoundError):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # a server that died without cleaning up left it behind
        return
    except OSError as exc:
        if exc.errno != errno.EAGAIN:  # a full backlog still means someone listens
            raise ControlError(f"cannot probe {path}: {exc.strerror or exc}") from None
    finally:
        probe.close()
    raise ControlError(f"another synack server already answers on {path}")


class ControlServer:
    """Answers requests on an AF_UNIX socket, on the running event loop.

    ``responder(request)`` returns the reply text or raises ValueError for a bad request;
    it runs on the loop, so it may read a stack the loop drives (under its guard).
    """

    def __init__(self, path: Path | str, responder: Responder) -> None:
        self.path = Path(path)
        self.responder = responder
        self._server: asyncio.Server | None = None
        self._inode: int | None = None
        self._clients = 0

    async def start(self) -> None:
        """Create the directory (0700) if missing, bind the socket (0600) and listen."""
        directory = self.path.parent
        if not directory.exists():
            try:
                directory.mkdir(mode=0o700, parents=True)
            except OSError as exc:
                raise ControlError(f"cannot create {directory}: {exc.strerror or exc}") from None
        _check_path(self.path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(os.fspath(self.path))
            # Nobody can connect before listen(), so the mode is right before anyone can.
            os.chmod(self.path, 0o600)
            self._inode = self.path.stat().st_ino
            sock.listen(MAX_CLIENTS)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(
                self._serve, sock=sock, limit=MAX_REQUEST
            )
        except OSError as exc:
            sock.close()
            self._remove()
            raise ControlError(
                f"cannot listen on control socket {self.path}: {exc.strerror or exc}"
            ) from None

    async def close(self) -> None:
        """Stop answering and remove the socket file (if it is still ours)."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), timeout=REQUEST_TIMEOUT_S)
        self._remove()

    def _remove(self) -> None:
        inode, self._inode = self._inode, None
        with contextlib.suppress(OSError):
            if inode is not None and self.path.lstat().st_ino == inode:
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._clients += 1
        try:
            reply = await self._reply(reader) if self._clients <= MAX_CLIENTS else None
            if reply is None:
                reply = f"error: busy, {MAX_CLIENTS} requests already in progress\n"
            writer.write(reply.encode("utf-8", "replace"))
            await asyncio.wait_for(writer.drain(), timeout=REQUEST_TIMEOUT_S)
        except (OSError, TimeoutError):
            pass  # the client went away or stopped reading: nothing to tell it
        finally:
            self._clients -= 1
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), timeout=REQUEST_TIMEOUT_S)

    async def _reply(self, reader: asyncio.StreamReader) -> str:
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), timeout=REQUEST_TIMEOUT_S)
        except asyncio.IncompleteReadError as exc:
            line = exc.partial  # the client shut down its side without a newline
        except asyncio.LimitOverrunError:
            return f"error: request longer than {MAX_REQUEST} bytes\n"
        except TimeoutError:
            return f"error: no request line within {REQUEST_TIMEOUT_S:g} s\n"
        try:
            request = line.decode("ascii").strip()
        except UnicodeDecodeError:
            return "error: a request is one line of ASCII\n"
        try:
            return self.responder(request)
        except ValueError as exc:
            return f"error: {exc}\n"


def query(path: Path | str, request: str, timeout: float = CLIENT_TIMEOUT_S) -> str:
    """Send ``request`` to the control socket at ``path`` and return the reply text.

    Raises ControlError when nothing answers there, and with the server's message when it
    rejects the request.
    """
    where = os.fspath(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    chunks: list[bytes] = []
    received = 0
    try:
        sock.connect(where)
        sock.sendall(request.encode("ascii") + b"\n")
        while received <= MAX_REPLY:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ControlError(f"nothing answers on {where}: is synack serve running?") from None
    except TimeoutError:
        raise ControlError(f"no reply from {where} within {timeout:g} s") from None
    except OSError as exc:
        raise ControlError(f"cannot query {where}: {exc.strerror or exc}") from None
    finally:
        sock.close()
    if received > MAX_REPLY:
        raise ControlError(f"the reply from {where} is longer than {MAX_REPLY} bytes")
    reply = b"".join(chunks).decode("utf-8", "replace")
    if reply.startswith("error: "):
        raise ControlError(reply.removeprefix("error: ").strip())
    if not reply:
        raise ControlError(f"{where} closed without a reply")
    return reply

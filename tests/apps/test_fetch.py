from __future__ import annotations

import asyncio
import hashlib
import io
import os
from pathlib import Path

import h11
import pytest

from synack.apps.fetch import FetchError, FetchResult, fetch
from synack.apps.http import StaticFiles

from .streams import Handler, connect, run


class Opener:
    """An injectable open_connection that serves every connection with ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.calls: list[tuple[str, int]] = []
        self.served: list[asyncio.Task[None]] = []

    async def __call__(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.calls.append((host, port))
        reader, writer, served = await connect(self.handler)
        self.served.append(served)
        return reader, writer


def canned(answer: bytes) -> Handler:
    """A server that reads the request head, sends ``answer`` verbatim and closes."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(answer)
        await writer.drain()
        writer.close()

    return handler


def fetch_with(handler: Handler, url: str) -> tuple[FetchResult, bytes, Opener]:
    opener = Opener(handler)
    out = io.BytesIO()

    async def scenario() -> FetchResult:
        result = await fetch(url, open_connection=opener, out=out)
        await asyncio.gather(*opener.served)
        return result

    return run(scenario()), out.getvalue(), opener


def test_fetch_of_a_20_mb_file_from_the_http_service_matches_its_hash(tmp_path: Path) -> None:
    content = os.urandom(20 * 1024 * 1024 + 5)
    (tmp_path / "big.bin").write_bytes(content)
    opener = Opener(StaticFiles(tmp_path))
    digest = hashlib.sha256()

    class HashingSink(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            digest.update(data)
            return len(data)

    async def scenario() -> FetchResult:
        result = await fetch("http://198.18.0.2/big.bin", open_connection=opener, out=HashingSink())
        await asyncio.gather(*opener.served)
        return result

    result = run(scenario())
    assert result.status == 200
    assert result.body_bytes == len(content)
    assert result.header("Content-Length") == str(len(content))
    assert digest.hexdigest() == hashlib.sha256(content).hexdigest()
    assert opener.calls == [("198.18.0.2", 80)]


def test_fetch_sends_host_and_connection_close() -> None:
    seen: list[h11.Request] = []

    async def recorder(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        conn.receive_data(await reader.readuntil(b"\r\n\r\n"))
        request = conn.next_event()
        assert isinstance(request, h11.Request)
        seen.append(request)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        writer.close()

    result, body, opener = fetch_with(recorder, "http://[2001:db8::2]:8080/a/b?c=d#frag")
    assert opener.calls == [("2001:db8::2", 8080)]
    assert seen[0].method == b"GET"
    assert seen[0].target == b"/a/b?c=d"
    headers = dict(seen[0].headers)
    assert headers[b"host"] == b"[2001:db8::2]:8080"
    assert headers[b"connection"] == b"close"
    assert result.status == 204
    assert body == b""


def test_an_error_status_is_a_result_not_an_exception(tmp_path: Path) -> None:
    result, body, _ = fetch_with(StaticFiles(tmp_path), "http://198.18.0.2/missing")
    assert result.status == 404
    assert body == b"404 Not Found\n"


def test_redirects_are_not_followed() -> None:
    answer = b"HTTP/1.1 301 Moved\r\nLocation: http://198.18.0.3/\r\nContent-Length: 0\r\n\r\n"
    result, _body, opener = fetch_with(canned(answer), "http://198.18.0.2/")
    assert result.status == 301
    assert result.header("location") == "http://198.18.0.3/"
    assert len(opener.calls) == 1


def test_a_body_delimited_by_the_close_is_read_to_the_end() -> None:
    result, body, _ = fetch_with(canned(b"HTTP/1.1 200 OK\r\n\r\nuntil the end"), "http://h/")
    assert body == b"until the end"
    assert result.body_bytes == len(body)


def test_a_body_shorter_than_content_length_is_an_error() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 40
    with pytest.raises(FetchError, match="40 of 100"):
        fetch_with(canned(answer), "http://198.18.0.2/")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"",
        b"HTTP/1.1 200 OK\r\nbad\r\n\r\n",
    ],
)
def test_an_answer_that_is_not_http_is_an_error(answer: bytes) -> None:
    with pytest.raises(FetchError, match=r"not a valid HTTP response|without answering"):
        fetch_with(canned(answer), "http://198.18.0.2/")


@pytest.mark.parametrize(
    "url", ["https://198.18.0.2/", "ftp://198.18.0.2/f", "198.18.0.2/index.html", "http:///x"]
)
def test_urls_that_are_not_http_are_refused_before_connecting(url: str) -> None:
    opener = Opener(canned(b""))
    with pytest.raises(FetchError, match=r"http://|no host"):
        run(fetch(url, open_connection=opener, out=io.BytesIO()))
    assert opener.calls == []


def test_a_bad_port_is_refused() -> None:
    opener = Opener(canned(b""))
    with pytest.raises(FetchError, match="bad URL"):
        run(fetch("http://198.18.0.2:99999/", open_connection=opener, out=io.BytesIO()))
    assert opener.calls == []

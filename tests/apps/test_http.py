from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import tracemalloc
from pathlib import Path

import h11
import pytest

from synack.apps.http import StaticFiles, http_handler

from .streams import connect, read_all, run

INDEX = b"<html><body>synack</body></html>\n"
NOTES = b"plain notes\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A served root beside a secret file that must stay out of reach."""
    (tmp_path / "secret.txt").write_bytes(b"outside the root\n")
    www = tmp_path / "www"
    (www / "sub").mkdir(parents=True)
    (www / "index.html").write_bytes(INDEX)
    (www / "notes.txt").write_bytes(NOTES)
    (www / "data.unknownext").write_bytes(b"\x00\x01")
    (www / "sub" / "index.html").write_bytes(b"sub index\n")
    (www / "empty").mkdir()
    (www / "escape").symlink_to(tmp_path / "secret.txt")
    (www / "escape-dir").symlink_to(tmp_path)
    (www / "alias.txt").symlink_to(www / "notes.txt")
    return www


class Client:
    """An h11 client on one connection, so keep-alive can be observed."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.conn = h11.Connection(h11.CLIENT)

    async def request(
        self, method: str, target: str, headers: list[tuple[str, str]] | None = None
    ) -> tuple[h11.Response, bytes]:
        if self.conn.our_state is h11.DONE:
            self.conn.start_next_cycle()
        request = h11.Request(
            method=method, target=target, headers=[("Host", "t"), *(headers or [])]
        )
        self.writer.write(self.conn.send(request) or b"")
        self.writer.write(self.conn.send(h11.EndOfMessage()) or b"")
        response: h11.Response | None = None
        body = bytearray()
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(await self.reader.read(65536))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, bytes(body)
            else:
                raise AssertionError(f"unexpected {event!r}")


def header(response: h11.Response, name: bytes) -> bytes | None:
    return dict(response.headers).get(name)


async def _one(root: Path, method: str, target: str) -> tuple[h11.Response, bytes]:
    reader, writer, served = await connect(StaticFiles(root))
    response, body = await Client(reader, writer).request(method, target, [("Connection", "close")])
    await served
    writer.close()
    return response, body


def get(root: Path, target: str, method: str = "GET") -> tuple[h11.Response, bytes]:
    return run(_one(root, method, target))


async def _raw(root: Path, data: bytes) -> bytes:
    """Send raw bytes, half-close, and return everything the server sends before closing."""
    reader, writer, served = await connect(StaticFiles(root))
    writer.write(data)
    writer.write_eof()
    answer = await read_all(reader)
    await served
    writer.close()
    return answer


def raw(root: Path, data: bytes) -> bytes:
    return run(_raw(root, data))


def test_get_of_the_root_serves_index_html(root: Path) -> None:
    response, body = get(root, "/")
    assert response.status_code == 200
    assert body == INDEX
    assert header(response, b"content-type") == b"text/html"
    assert header(response, b"content-length") == str(len(INDEX)).encode()


def test_a_directory_serves_its_index_with_or_without_the_slash(root: Path) -> None:
    assert get(root, "/sub/")[1] == b"sub index\n"
    assert get(root, "/sub")[1] == b"sub index\n"


def test_content_type_is_guessed_from_the_name(root: Path) -> None:
    assert header(get(root, "/notes.txt")[0], b"content-type") == b"text/plain"
    unknown = get(root, "/data.unknownext")[0]
    assert header(unknown, b"content-type") == b"application/octet-stream"


def test_query_strings_are_ignored_and_percent_escapes_decoded(root: Path) -> None:
    assert get(root, "/notes.txt?version=2")[1] == NOTES
    assert get(root, "/%6Eotes.txt")[1] == NOTES


def test_head_sends_the_headers_of_get_and_no_body(root: Path) -> None:
    response, body = get(root, "/notes.txt", method="HEAD")
    assert response.status_code == 200
    assert body == b""
    assert header(response, b"content-length") == str(len(NOTES)).encode()


def test_missing_files_and_directories_without_index_are_404(root: Path) -> None:
    assert get(root, "/nothing-here.txt")[0].status_code == 404
    assert get(root, "/empty/")[0].status_code == 404
    assert get(root, "/notes.txt/more")[0].status_code == 404


def test_other_methods_are_405_with_allow(root: Path) -> None:
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        response, _ = get(root, "/notes.txt", method=method)
        assert response.status_code == 405
        assert header(response, b"allow") == b"GET, HEAD"


@pytest.mark.parametrize(
    "target",
    [
        "/../secret.txt",
        "/sub/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/sub/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/escape",
        "/escape-dir/secret.txt",
        "/notes.txt%00.html",
        "/%00",
        "/%ff%fe",
        "//etc/passwd",
        "http://t/../secret.txt",
    ],
)
def test_nothing_outside_the_root_is_reachable(root: Path, target: str) -> None:
    response, body = get(root, target)
    assert response.status_code == 404
    assert b"outside" not in body


def test_a_symlink_that_stays_inside_the_root_is_served(root: Path) -> None:
    assert get(root, "/alias.txt")[1] == NOTES


def test_absolute_form_targets_are_served(root: Path) -> None:
    assert get(root, "http://t/notes.txt")[1] == NOTES


def test_keep_alive_serves_several_requests_on_one_connection(root: Path) -> None:
    async def scenario() -> list[tuple[int, bytes, bytes | None]]:
        reader, writer, served = await connect(StaticFiles(root))
        client = Client(reader, writer)
        seen = []
        for method, target, headers in [
            ("GET", "/notes.txt", []),
            ("HEAD", "/", []),
            ("GET", "/missing", []),
            ("POST", "/", []),
            ("GET", "/sub/", [("Connection", "close")]),
        ]:
            response, body = await client.request(method, target, headers)
            seen.append((response.status_code, body, header(response, b"connection")))
        assert await reader.read() == b""  # the server closed after Connection: close
        await served
        writer.close()
        return seen

    assert run(scenario()) == [
        (200, NOTES, None),
        (200, b"", None),
        (404, b"404 Not Found\n", None),
        (405, b"405 Method Not Allowed\n", None),
        (200, b"sub index\n", b"close"),
    ]


def test_pipelined_requests_are_answered_in_order(root: Path) -> None:
    answer = raw(
        root,
        b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    assert answer.count(b"HTTP/1.1 200 ") == 2
    assert answer.index(NOTES) < answer.index(b"sub index\n")


def test_a_request_body_is_skipped_and_the_connection_kept(root: Path) -> None:
    answer = raw(
        root,
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 405 ")
    assert answer.endswith(NOTES)


def test_http_1_0_gets_one_answer_and_a_close(root: Path) -> None:
    answer = raw(root, b"GET /notes.txt HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(NOTES)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"GET /notes.txt HTTP/1.1\r\n\r\n",  # HTTP/1.1 without Host
        b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nbad header line\r\n\r\n",
        b"GET /notes.txt HTTP/1.1\r\nHost: t\r\nContent-Length: nope\r\n\r\n",
        b"\x00\xff\x16\x03\x01 binary\r\n\r\n",
    ],
)
def test_a_malformed_request_gets_400_and_a_close(root: Path, request_bytes: bytes) -> None:
    answer = raw(root, request_bytes + b"GET /notes.txt HTTP/1.1\r\nHost: t\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in answer.lower()
    assert NOTES not in answer  # nothing after the bad request was served


def test_a_request_cut_short_gets_400(root: Path) -> None:
    assert raw(root, b"GET /notes.txt HTTP/1.1\r\nHo").startswith(b"HTTP/1.1 400 ")


def test_an_idle_keep_alive_connection_is_closed(root: Path) -> None:
    async def scenario() -> tuple[int, bytes]:
        reader, writer, served = await connect(StaticFiles(root, idle_timeout=0.3))
        response, _ = await Client(reader, writer).request("GET", "/notes.txt")
        rest = await reader.read()  # the client stays silent: the server must hang up
        await served
        writer.close()
        return response.status_code, rest

    assert run(scenario()) == (200, b"")


def test_a_connection_that_never_sends_a_request_is_closed(root: Path) -> None:
    async def scenario() -> bytes:
        reader, writer, served = await connect(StaticFiles(root, idle_timeout=0.3))
        rest = await reader.read()
        await served
        writer.close()
        return rest

    assert run(scenario()) == b""


def test_a_20_mb_file_streams_intact_without_being_held_in_memory(root: Path) -> None:
    size = 20 * 1024 * 1024 + 123
    content = os.urandom(size)
    (root / "big.bin").write_bytes(content)
    expected = hashlib.sha256(content).hexdigest()
    del content

    async def scenario() -> tuple[int, int, str]:
        reader, writer, served = await connect(StaticFiles(root))
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ")
        assert f"content-length: {size}\r\n".encode() in head.lower()
        digest = hashlib.sha256()
        received = 0
        while chunk := await reader.read(256 * 1024):
            digest.update(chunk)
            received += len(chunk)
        await served
        writer.close()
        return received, tracemalloc.get_traced_memory()[1], digest.hexdigest()

    tracemalloc.start()
    try:
        received, peak, digest = run(scenario())
    finally:
        tracemalloc.stop()
    assert received == size
    assert digest == expected
    assert peak < 8 * 1024 * 1024  # a 1 MiB read plus buffers, not the 20 MB file


def test_a_client_that_leaves_mid_download_ends_the_handler_cleanly(root: Path) -> None:
    (root / "big.bin").write_bytes(bytes(8 * 1024 * 1024))

    async def scenario() -> None:
        reader, writer, served = await connect(StaticFiles(root))
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        await reader.readexactly(1024 * 1024)
        writer.transport.abort()
        await served

    run(scenario())


def test_the_root_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a directory"):
        http_handler(tmp_path / "missing")
    with pytest.raises(ValueError, match="idle timeout"):
        http_handler(tmp_path, idle_timeout=0)


def test_a_client_that_stops_reading_is_cut_off_after_the_idle_timeout(root: Path) -> None:
    size = 16 * 1024 * 1024
    (root / "big.bin").write_bytes(bytes(size))

    async def scenario() -> int:
        reader, writer, served = await connect(StaticFiles(root, idle_timeout=0.5))
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        received = len(await reader.readexactly(1024 * 1024))
        await served  # ends although the client neither reads nor closes
        with contextlib.suppress(ConnectionResetError):
            received += len(await read_all(reader))
        writer.close()
        return received

    assert run(scenario()) < size

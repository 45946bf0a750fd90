"""The control socket of ``synack serve``, driven in-process over a simulated stack."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from synack import control
from synack.api.socket import Socket
from synack.cli import main
from synack.control import ControlError, ControlServer, default_path, query, respond
from synack.scenarios.world import World
from synack.stack import Stack
from synack.trace.inspect import nstat, ss


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: an AF_UNIX path holds at most 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="synack-ctl-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _connected_world() -> tuple[World, Socket, Socket]:
    """B listens on port 7 and has accepted one connection from A: (world, A's, B's)."""
    world = World(seed=1, record=False)
    server = world.socket("B")
    server.bind(("198.18.0.2", 7))
    server.listen()
    client = world.socket("A")
    client.connect(("198.18.0.2", 7))
    accepted, _peer = server.accept()
    return world, client, accepted


def _serve(path: Path, stack: Stack, body: Callable[[ControlServer], Awaitable[None]]) -> None:
    """Run ``body`` while a control server for ``stack`` listens at ``path``."""

    async def run() -> None:
        server = ControlServer(path, lambda request: respond(stack, request))
        await server.start()
        try:
            await body(server)
        finally:
            await server.close()

    asyncio.run(run())


async def _ask(path: Path, request: str) -> str:
    return await asyncio.to_thread(query, path, request)


async def _raw(path: Path, payload: bytes, shut: bool = True) -> str:
    """Send raw bytes as a misbehaving client would; the server's whole reply."""
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    writer.write(payload)
    if shut:
        writer.write_eof()
    reply = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return reply.decode()


def test_ss_and_nstat_show_the_live_stack(short_dir: Path) -> None:
    world, _client, _accepted = _connected_world()
    stack = world.stack("B")
    path = short_dir / "syn0.sock"

    async def body(_server: ControlServer) -> None:
        reply = await _ask(path, "ss")
        assert reply == ss(stack) + "\n"
        lines = reply.splitlines()
        assert lines[1].split()[0] == "LISTEN" and "198.18.0.2:7" in lines[1]
        assert lines[2].split()[0] == "ESTAB"
        assert lines[2].split()[3:5][0] == "198.18.0.2:7"
        assert lines[2].split()[4].startswith("198.18.0.1:")
        counters = dict(line.split() for line in (await _ask(path, "nstat")).splitlines()[1:])
        assert counters["TcpPassiveOpens"] == "1"
        assert counters["TcpCurrEstab"] == "1"
        assert (await _ask(path, "nstat")) == nstat(stack) + "\n"

    _serve(path, stack, body)


def test_ss_o_shows_the_time_wait_timer(short_dir: Path) -> None:
    world, client, accepted = _connected_world()
    client_stack = world.stack("A")
    # A closes first, then B: A ends in TIME-WAIT, whose timer ss -o shows.
    client.close()
    world.run(0.1)
    accepted.close()
    world.run(0.1)
    path = short_dir / "a.sock"

    async def body(_server: ControlServer) -> None:
        plain = await _ask(path, "ss")
        timed = await _ask(path, "ss -o")
        assert "TIME-WAIT" in plain and "timer:" not in plain
        assert "TIME-WAIT" in timed and "timer:(timewait," in timed

    _serve(path, client_stack, body)


def test_socket_is_private_and_removed_on_close(short_dir: Path) -> None:
    directory = short_dir / "run"
    path = directory / "syn0.sock"
    stack = World(seed=1).stack("B")

    async def body(_server: ControlServer) -> None:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(path.stat().st_mode)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600

    _serve(path, stack, body)
    assert not path.exists()


def test_a_second_server_is_refused_and_the_first_keeps_answering(short_dir: Path) -> None:
    path = short_dir / "syn0.sock"
    stack = World(seed=1).stack("B")

    async def body(_server: ControlServer) -> None:
        second = ControlServer(path, lambda request: "not me\n")
        with pytest.raises(ControlError, match="already answers"):
            await second.start()
        await second.close()
        assert (await _ask(path, "nstat")).startswith("#kernel")

    _serve(path, stack, body)
    assert not path.exists()


def test_a_stale_socket_file_is_replaced(short_dir: Path) -> None:
    path = short_dir / "syn0.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(os.fspath(path))  # bound, never listening: what a killed server leaves
    dead.close()
    stack = World(seed=1).stack("B")

    async def body(_server: ControlServer) -> None:
        assert (await _ask(path, "ss")).startswith("State")

    _serve(path, stack, body)


def test_a_file_that_is_not_a_socket_is_left_alone(short_dir: Path) -> None:
    path = short_dir / "syn0.sock"
    path.write_text("someone's notes\n")
    server = ControlServer(path, lambda request: "")
    with pytest.raises(ControlError, match="not a socket"):
        asyncio.run(server.start())
    assert path.read_text() == "someone's notes\n"


def test_bad_requests_get_an_error_line_and_the_server_goes_on(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(control, "REQUEST_TIMEOUT_S", 0.2)
    path = short_dir / "syn0.sock"
    stack = _connected_world()[0].stack("B")

    async def body(_server: ControlServer) -> None:
        assert (await _raw(path, b"netstat\n")).startswith("error: unknown request 'netstat'")
        assert (await _raw(path, b"x" * 10_000)).startswith("error: request longer than")
        assert (await _raw(path, b"ss \xff\n")).startswith("error: a request is one line")
        assert (await _raw(path, b"")).startswith("error: unknown request ''")
        # A client that connects and says nothing is cut off, not waited for.
        assert (await _raw(path, b"ss", shut=False)).startswith("error: no request line")
        with pytest.raises(ControlError, match="unknown request 'ss -x'"):
            await _ask(path, "ss -x")
        # Without a newline, a request ended by the client's shutdown still counts.
        assert (await _raw(path, b"ss")).startswith("State")
        assert "ESTAB" in await _ask(path, "ss")

    _serve(path, stack, body)


def test_query_says_when_nothing_answers(short_dir: Path) -> None:
    with pytest.raises(ControlError, match=r"nothing answers on .*missing\.sock"):
        query(short_dir / "missing.sock", "ss")


def test_cli_prints_the_reply(short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = short_dir / "syn0.sock"
    stack = _connected_world()[0].stack("B")

    async def body(_server: ControlServer) -> None:
        assert await asyncio.to_thread(main, ["ss", "-o", "--control", str(path)]) == 0
        assert await asyncio.to_thread(main, ["nstat", "--control", str(path)]) == 0

    _serve(path, stack, body)
    out = capsys.readouterr().out
    assert out == ss(stack, timers=True) + "\n" + nstat(stack) + "\n"


def test_cli_exits_1_when_no_server_runs(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["nstat", "--control", str(short_dir / "none.sock")]) == 1
    err = capsys.readouterr().err
    assert "synack nstat: nothing answers on" in err and "none.sock" in err


def test_cli_needs_to_know_which_server(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["ss"])
    assert exited.value.code == 2
    assert "--tun" in capsys.readouterr().err


def test_default_path_is_named_after_the_device() -> None:
    # The tests run in the initial network namespace, which ip netns does not name.
    assert default_path("syn0") == Path("/run/synack/syn0.sock")

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from synack.apps import SERVICES, ServiceOptions, listeners
from synack.apps.bench import bench_discard, bench_echo, bench_source
from synack.apps.chargen import chargen
from synack.apps.discard import discard
from synack.apps.echo import echo
from synack.apps.http import StaticFiles

from .streams import connect, read_all, run, send_and_close


def test_every_kind_has_its_well_known_port() -> None:
    assert {kind: service.default_port for kind, service in SERVICES.items()} == {
        "echo": 7,
        "discard": 9,
        "chargen": 19,
        "http": 80,
        "bench": None,
    }


def test_simple_kinds_listen_on_their_default_port() -> None:
    options = ServiceOptions()
    assert listeners("echo", options) == [(7, echo)]
    assert listeners("discard", options) == [(9, discard)]
    assert listeners("chargen", options) == [(19, chargen)]


def test_a_port_overrides_the_default() -> None:
    assert listeners("echo", ServiceOptions(), port=7007) == [(7007, echo)]


def test_bench_serves_its_three_ports_at_once() -> None:
    assert sorted(listeners("bench", ServiceOptions())) == [
        (7, bench_echo),
        (9, bench_discard),
        (19, bench_source),
    ]
    with pytest.raises(ValueError, match="fixed ports"):
        listeners("bench", ServiceOptions(), port=9000)


def test_http_serves_the_given_root(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_bytes(b"hi\n")
    [(port, handler)] = listeners("http", ServiceOptions(root=tmp_path, idle_timeout=5.0))
    assert port == 80
    assert isinstance(handler, StaticFiles)
    assert handler.idle_timeout == 5.0

    async def scenario() -> bytes:
        reader, writer, served = await connect(handler)
        sending = asyncio.ensure_future(
            send_and_close(writer, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        )
        answer = await read_all(reader)
        await sending
        await served
        writer.close()
        return answer

    assert run(scenario()).endswith(b"\r\n\r\nhi\n")


@pytest.mark.parametrize(
    ("kind", "options", "port", "message"),
    [
        ("http", ServiceOptions(), None, "needs a root"),
        ("gopher", ServiceOptions(), None, "unknown service 'gopher'; known: bench, chargen"),
        ("echo", ServiceOptions(), 0, "1..65535"),
        ("echo", ServiceOptions(), 65536, "1..65535"),
    ],
)
def test_bad_choices_are_refused_with_a_clear_error(
    kind: str, options: ServiceOptions, port: int | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        listeners(kind, options, port)

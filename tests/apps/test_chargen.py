from __future__ import annotations

from synack.apps.chargen import chargen

from .streams import connect, run

# The first lines of RFC 864's pattern, and the line where the ring wraps past '~'.
RFC_LINE_0 = b"!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n"
RFC_LINE_1 = b"\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi\r\n"
LINE_55 = b"XYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ !\"#$%&'()*+,-./0123456789:;<=>?@\r\n"

LINES = 3000  # about 220 KB: several of the server's writes


async def _receive_lines(count: int, *, half_close: bool) -> list[bytes]:
    reader, writer, served = await connect(chargen)
    writer.write(b"ignored input\r\n" * 100)
    data = await reader.readexactly(74 * count)
    if half_close:
        writer.write_eof()
    else:
        writer.transport.abort()  # the rude abort RFC 864 says to expect
    await served  # the server stops, and without an exception
    writer.close()
    return [data[i : i + 74] for i in range(0, len(data), 74)]


def test_chargen_sends_the_rfc_864_rotating_pattern() -> None:
    lines = run(_receive_lines(LINES, half_close=False))
    assert lines[0] == RFC_LINE_0
    assert lines[1] == RFC_LINE_1
    assert lines[55] == LINE_55
    for number, line in enumerate(lines):
        assert len(line) == 74 and line.endswith(b"\r\n")
        assert line == lines[number % 95]  # the pattern repeats every 95 lines
        if number:
            assert line[:71] == lines[number - 1][1:72]  # each line shifts the ring by one


def test_chargen_uses_each_of_the_95_printing_characters() -> None:
    lines = run(_receive_lines(95, half_close=True))
    assert {line[0] for line in lines} == set(range(0x20, 0x7F))

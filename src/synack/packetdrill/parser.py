"""Parse packetdrill scripts into typed events.

The grammar lives in ``grammar.lark`` next to this module; :func:`parse` turns a script's
text into a :class:`Script` of :class:`Syscall`, :class:`Packet`, :class:`Shell` and
:class:`PythonBlock` events, or raises :class:`ScriptError` naming the file, line and
column of the first problem.

Before parsing, ``#ifdef NAME`` / ``#ifndef NAME`` / ``#else`` / ``#endif`` lines (used by
the FreeBSD test suite) are resolved against ``defines``; excluded lines are blanked so
line numbers stay those of the original file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from types import EllipsisType
from typing import Any, Literal, TypeAlias

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

__all__ = [
    "Call",
    "Eol",
    "Event",
    "Expr",
    "FastOpen",
    "Field",
    "Icmp",
    "Md5",
    "Mss",
    "Nop",
    "Or",
    "Packet",
    "PythonBlock",
    "Sack",
    "SackOK",
    "Script",
    "ScriptError",
    "Shell",
    "Struct",
    "Symbol",
    "Syscall",
    "TcpOption",
    "Time",
    "Timestamp",
    "UnknownOption",
    "WScale",
    "parse",
]


class ScriptError(Exception):
    """A script that cannot be parsed: where (1-based line and column) and why."""

    def __init__(self, filename: str, line: int, column: int, message: str) -> None:
        super().__init__(f"{filename}:{line}:{column}: {message}")
        self.filename = filename
        self.line = line
        self.column = column
        self.message = message


# ---------------------------------------------------------------- times


@dataclass(frozen=True)
class Time:
    """When an event happens.

    ``absolute``: ``value`` seconds after the script start; ``relative``: ``value`` seconds
    after the previous event; ``any``: ``*``; ``range``: ``value~end`` (both relative to
    the previous event when ``relative``, i.e. ``+a~+b``).
    """

    kind: Literal["absolute", "relative", "any", "range"]
    value: float | None = None
    end: float | None = None
    relative: bool = False


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Symbol:
    """An identifier such as ``SOCK_STREAM`` or ``AF_INET``."""

    name: str


@dataclass(frozen=True)
class Or:
    """``A|B|C``: flags combined with bitwise or."""

    operands: tuple[Expr, ...]


@dataclass(frozen=True)
class Call:
    """A function-like item: ``htons(8080)``, ``inet_addr("192.0.2.1")``."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Field:
    """A struct member: ``name=value``, ``name(count)=value`` or a bare ``value``."""

    name: str | None
    value: Expr
    count: Expr | None = None


@dataclass(frozen=True)
class Struct:
    """``{a=1, b=[2]}``."""

    fields: tuple[Field, ...]

    def get(self, name: str) -> Expr | None:
        for f in self.fields:
            if f.name == name:
                return f.value
        return None


# ints (decimal or hex), string literals (str), identifiers, ``...`` (Ellipsis), lists.
Expr: TypeAlias = "int | str | Symbol | EllipsisType | list[Expr] | Struct | Call | Or"


# ---------------------------------------------------------------- TCP options


@dataclass(frozen=True)
class Mss:
    value: int | str  # a str is a name defined when the script is run (``-D MSS=1460``)


@dataclass(frozen=True)
class Nop:
    pass


@dataclass(frozen=True)
class Eol:
    pass


@dataclass(frozen=True)
class WScale:
    shift: int | str


@dataclass(frozen=True)
class SackOK:
    pass


@dataclass(frozen=True)
class Sack:
    blocks: tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Timestamp:
    val: int | str
    ecr: int | str


@dataclass(frozen=True)
class FastOpen:
    """``FO [cookie]`` (option 34) or ``FOEXP [cookie]`` (experimental option 254)."""

    cookie: str | None
    experimental: bool = False


@dataclass(frozen=True)
class Md5:
    """``md5 valid`` / ``md5 invalid`` etc. (TCP-MD5 signature)."""

    args: tuple[str, ...]


@dataclass(frozen=True)
class UnknownOption:
    """An option this parser does not model, kept as its words."""

    kind: str
    args: tuple[str, ...]


TcpOption: TypeAlias = (
    Mss | Nop | Eol | WScale | SackOK | Sack | Timestamp | FastOpen | Md5 | UnknownOption
)


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Icmp:
    """An ICMP message quoting a TCP (or UDP) packet ``[seq_start:seq_end(len)]``."""

    type: str
    code: str | None = None
    mtu: int | None = None
    quoted_seq: tuple[int, int, int] | None = None
    quoted_udp_len: int | None = None
    quoted_encapsulated: bool = False  # the quoted packet travels in UDP (``/udp(a > b)``)


#: The IP ECN codepoints each packetdrill mark stands for (RFC 3168 section 5).
ECN_MARKS: dict[str, frozenset[int]] = {
    "noecn": frozenset({0}),
    "ect1": frozenset({1}),
    "ect0": frozenset({2}),
    "ect01": frozenset({1, 2}),
    "ce": frozenset({3}),
}


@dataclass(frozen=True)
class Packet:
    """An injected (``<``) or expected (``>``) packet.

    ``seq_start``/``seq_end``/``payload_len`` are ``None`` for ``...(len)`` (any sequence
    number). ``options`` is ``None`` when the script gives no option list (no options
    allowed) or ``<...>`` (``any_options``; options are not checked). ``unsupported``
    names the features present that synack does not model (IP header fields, unknown
    ECN marks, encapsulations, ICMP, UDP, bad checksums).
    """

    time: Time
    direction: Literal["<", ">"]
    flags: str | None
    seq_start: int | None
    seq_end: int | None
    payload_len: int | None
    ack: int | None = None
    win: int | None = None
    urg: int | None = None
    options: list[TcpOption] | None = None
    any_options: bool = False
    protocol: Literal["tcp", "udp", "icmp"] = "tcp"
    ecn: str | None = None
    ip_fields: dict[str, int | str] = field(default_factory=dict)
    bad_checksum: bool = False
    encap: str | None = None
    udp_encap: tuple[int, int] | None = None
    udp_len: int | None = None
    icmp: Icmp | None = None
    unsupported: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Syscall:
    """``name(args) = result [ERRNO] [(note)]``; ``blocking_end`` for ``a...b`` times."""

    time: Time
    name: str
    args: list[Expr]
    result: Expr
    errno: str | None = None
    note: str | None = None
    blocking_end: Time | None = None
    line: int = 0


@dataclass(frozen=True)
class Shell:
    """A backtick command; ``time`` is ``None`` for untimed (setup/cleanup) commands."""

    time: Time | None
    command: str
    line: int = 0


@dataclass(frozen=True)
class PythonBlock:
    """A ``%{ ... }%`` block of Python (asserts over TCP_INFO fields)."""

    time: Time
    code: str
    line: int = 0


Event: TypeAlias = Syscall | Packet | Shell | PythonBlock


@dataclass(frozen=True)
class Script:
    """``--name=value`` options (value ``None`` for a bare ``--name``) and events."""

    options: dict[str, str | None]
    events: list[Event]
    filename: str = "<script>"


# ---------------------------------------------------------------- building


_NUM = r"(\d+(?:\.(?!\.)\d*)?|\.\d+)"
_TIME_RE = re.compile(
    rf"(?P<p1>\+?)[ \t]*{_NUM}(?:~(?P<p2>\+?)[ \t]*{_NUM})?"
    rf"(?:[ \t]*\.\.\.[ \t]*(?P<p3>\+?)[ \t]*{_NUM})?"
)


def _parse_time(text: str) -> tuple[Time, Time | None]:
    if text == "*":
        return Time("any"), None
    m = _TIME_RE.fullmatch(text)
    assert m is not None, text
    rel = m.group("p1") == "+"
    start = float(m.group(2))
    if m.group(4) is not None:
        time = Time("range", start, float(m.group(4)), relative=rel)
    else:
        time = Time("relative" if rel else "absolute", start, relative=rel)
    end: Time | None = None
    if m.group(6) is not None:
        end_rel = m.group("p3") == "+"
        end = Time("relative" if end_rel else "absolute", float(m.group(6)), relative=end_rel)
    return time, end


def _int(tok: str) -> int:
    return int(tok, 16) if tok[:2].lower() == "0x" else int(tok)


def _num(tok: str) -> int | str:
    """A number, or a name to be substituted when the script runs (``-D NAME=VALUE``)."""
    return tok if re.fullmatch(r"[A-Za-z_]\w*", tok) else _int(tok)


class _Error(Exception):
    def __init__(self, tok: Token, message: str) -> None:
        super().__init__(message)
        self.line = tok.line or 0
        self.column = tok.column or 0
        self.message = message


@dataclass
class _Tcp:
    flags: str | None
    seq: tuple[int | None, int | None, int | None]
    bad_checksum: bool = False
    ack: int | None = None
    win: int | None = None
    urg: int | None = None
    options: list[TcpOption] | None = None
    any_options: bool = False


@dataclass
class _Layered:
    """A payload plus the layers wrapped around it by prefixes and suffixes."""

    payload: Any
    ecn: str | None = None
    ip_fields: dict[str, int | str] = field(default_factory=dict)
    encap: str | None = None


def _option(words: list[Any]) -> TcpOption:
    head = words[0]
    kind = str(head)
    rest = words[1:]
    plain = [str(w) for w in rest if isinstance(w, Token)]
    try:
        if kind == "mss" and len(rest) == 1:
            return Mss(_num(plain[0]))
        if kind == "nop" and not rest:
            return Nop()
        if kind == "eol" and not rest:
            return Eol()
        if kind == "wscale" and len(rest) == 1:
            return WScale(_num(plain[0]))
        if kind == "sackOK" and not rest:
            return SackOK()
        if kind == "sack" and all(isinstance(w, tuple) for w in rest):
            return Sack(tuple((_int(a), _int(b)) for a, b in rest))
        if kind == "TS" and len(plain) == 4 == len(rest) and plain[0::2] == ["val", "ecr"]:
            return Timestamp(_num(plain[1]), _num(plain[3]))
        if kind in ("FO", "FOEXP") and len(plain) == len(rest) <= 1:
            return FastOpen(plain[0] if plain else None, experimental=kind == "FOEXP")
        if kind == "md5" and len(plain) == len(rest):
            return Md5(tuple(plain))
    except ValueError as exc:
        raise _Error(head, f"bad value in TCP option {kind!r}: {exc}") from None
    if kind in ("mss", "nop", "eol", "wscale", "sackOK", "sack", "TS", "FO", "FOEXP", "md5"):
        raise _Error(head, f"malformed TCP option {kind!r}")
    args = tuple(f"{w[0]}:{w[1]}" if isinstance(w, tuple) else str(w) for w in rest)
    return UnknownOption(kind, args)


@v_args(inline=True)
class _Builder(Transformer[Token, Any]):
    # -- script structure
    def start(self, *items: Any) -> tuple[list[Token], list[Event]]:
        options = [i for i in items if isinstance(i, Token)]
        events = [i for i in items if not isinstance(i, Token)]
        return options, events

    def option(self, tok: Token) -> Token:
        return tok

    def event(self, time_tok: Token, action: Any) -> Event:
        time, end = _parse_time(str(time_tok))
        line = time_tok.line or 0
        if isinstance(action, tuple) and action[0] == "syscall":
            _, name, args, (result, errno, note) = action
            return Syscall(time, name, args, result, errno, note, end, line)
        if end is not None:
            raise _Error(time_tok, "only system calls can have a blocking time (a...b)")
        if isinstance(action, tuple) and action[0] == "shell":
            return Shell(time, action[1], line)
        if isinstance(action, tuple) and action[0] == "python":
            return PythonBlock(time, action[1], line)
        assert isinstance(action, tuple) and action[0] == "packet"
        return _make_packet(time, action[1], action[2], action[3], line)

    def untimed_shell(self, tok: Token) -> Shell:
        return Shell(None, str(tok)[1:-1], tok.line or 0)

    def shell(self, tok: Token) -> tuple[str, str]:
        return ("shell", str(tok)[1:-1])

    def python(self, tok: Token) -> tuple[str, str]:
        return ("python", str(tok)[2:-2])

    # -- packets
    def packet(self, direction: Token, *rest: Any) -> tuple[Any, ...]:
        suffix = None
        if rest and isinstance(rest[-1], tuple) and rest[-1][0] == "udp_encap":
            suffix = rest[-1][1]
            rest = rest[:-1]
        *prefixes, payload = rest
        return ("packet", str(direction), _wrap(prefixes, payload), suffix)

    def ip_ecn(self, name: Token) -> tuple[str, str]:
        return ("ecn", str(name))

    def ip_fields(self, *fields: tuple[str, int | str]) -> tuple[str, dict[str, int | str]]:
        return ("ip", dict(fields))

    def ip_field(self, name: Token, value: int | str) -> tuple[str, int | str]:
        return (str(name), value)

    def value_token(self, tok: Token) -> int | str:
        return tok if tok.type == "NAME" else _int(str(tok))

    def encap_packet(self, kind: Token, *rest: Any) -> _Layered:
        desc = str(kind)
        if rest and isinstance(rest[0], Token):
            desc += f" spi {int(rest[0])}"
            rest = rest[1:]
        *prefixes, payload = rest
        layered = _wrap(prefixes, payload)
        layered.encap = desc
        return layered

    def tcp_packet(self, *items: Any) -> _Tcp:
        flags = ""
        i = 0
        while isinstance(items[i], Token) and items[i].type == "FLAGS":
            flags += str(items[i])
            i += 1
        tcp = _Tcp(None if flags == "-" else flags, items[i])
        for item in items[i + 1 :]:
            if isinstance(item, Token) and item.type == "BANG":
                tcp.bad_checksum = True
            elif isinstance(item, tuple):
                name, value = item
                if getattr(tcp, name) is not None:
                    raise _Error(value, f"duplicate {name!r}")
                setattr(tcp, name, int(value))
            elif item is Ellipsis:
                tcp.any_options = True
            else:
                tcp.options = item
        return tcp

    def seq(self, start: Token, end: Token, length: Token) -> tuple[int, int, int]:
        return (int(start), int(end), int(length))

    def any_seq(self, _dots: Token, length: Token) -> tuple[None, None, int]:
        return (None, None, int(length))

    def tcp_item(self, key: Token, value: Token) -> tuple[str, Token]:
        return (str(key), value)

    def any_options(self, _dots: Token) -> EllipsisType:
        return Ellipsis

    def option_list(self, *options: TcpOption) -> list[TcpOption]:
        return list(options)

    def tcp_option(self, *words: Any) -> TcpOption:
        return _option(list(words))

    def opt_range(self, a: Token, b: Token) -> tuple[Token, Token]:
        return (a, b)

    def udp_packet(self, length: Token) -> tuple[str, int]:
        return ("udp", int(length))

    def icmp_packet(self, *items: Any) -> Icmp:
        names: list[str] = []
        mtu: int | None = None
        quoted: tuple[int, int, int] | None = None
        udp_len: int | None = None
        encapsulated = False
        for item in items:
            if isinstance(item, Token) and item.type == "NAME":
                names.append(str(item))
            elif isinstance(item, Token):
                mtu = int(item)
            elif isinstance(item, tuple) and item[0] == "udp":
                udp_len = item[1]
            elif isinstance(item, tuple) and item[0] == "udp_encap":
                encapsulated = True
            elif isinstance(item, tuple):
                quoted = item
        code = names[1] if len(names) > 1 else None
        return Icmp(names[0], code, mtu, quoted, udp_len, encapsulated)

    def encap_suffix(self, src: Token, dst: Token) -> tuple[str, tuple[int, int]]:
        return ("udp_encap", (int(src), int(dst)))

    # -- syscalls
    def syscall(self, name: Token, args: list[Expr] | None, result: Any) -> tuple[Any, ...]:
        return ("syscall", str(name), args or [], result)

    def args(self, *exprs: Expr) -> list[Expr]:
        return list(exprs)

    def or_expr(self, *operands: Expr) -> Expr:
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def integer(self, tok: Token) -> int:
        return int(tok)

    def hexnum(self, tok: Token) -> int:
        return int(tok, 16)

    def string(self, tok: Token) -> str:
        body = str(tok)[1:-1]
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "0": "\0"}.get(m[1], m[1]), body)

    def ellipsis(self, _tok: Token) -> EllipsisType:
        return Ellipsis

    def symbol(self, tok: Token) -> Symbol:
        return Symbol(str(tok))

    def call(self, name: Token, args: list[Expr] | None) -> Call:
        return Call(str(name), tuple(args or []))

    def array(self, args: list[Expr] | None) -> list[Expr]:
        return args or []

    def struct(self, fields: list[Field] | None) -> Struct:
        return Struct(tuple(fields or []))

    def fields(self, *fields: Field) -> list[Field]:
        return list(fields)

    def named_field(self, name: Token, value: Expr) -> Field:
        return Field(str(name), value)

    def counted_field(self, name: Token, count: Expr, value: Expr) -> Field:
        return Field(str(name), value, count)

    def positional_field(self, value: Expr) -> Field:
        return Field(None, value)

    def result(self, value: Expr, *rest: Token) -> tuple[Expr, str | None, str | None]:
        errno = next((str(t) for t in rest if t.type == "ERRNO"), None)
        note = next((str(t)[1:-1] for t in rest if t.type == "NOTE"), None)
        return (value, errno, note)


def _wrap(prefixes: list[Any], payload: Any) -> _Layered:
    layered = payload if isinstance(payload, _Layered) else _Layered(payload)
    for kind, value in prefixes:
        if kind == "ecn":
            layered.ecn = value
        else:
            layered.ip_fields.update(value)
    return layered


def _make_packet(
    time: Time,
    direction: str,
    layered: _Layered,
    udp_encap: tuple[int, int] | None,
    line: int,
) -> Packet:
    unsupported: list[str] = []
    if layered.ecn is not None and layered.ecn not in ECN_MARKS:
        unsupported.append(f"ECN mark [{layered.ecn}]")
    if layered.ip_fields:
        unsupported.append("IP header fields " + ", ".join(sorted(layered.ip_fields)))
    if layered.encap is not None:
        unsupported.append(f"encapsulation {layered.encap}")
    if udp_encap is not None:
        unsupported.append("TCP over UDP encapsulation")
    common: dict[str, Any] = dict(
        time=time,
        direction=direction,
        ecn=layered.ecn,
        ip_fields=layered.ip_fields,
        encap=layered.encap,
        udp_encap=udp_encap,
        line=line,
    )
    payload = layered.payload
    if isinstance(payload, _Tcp):
        if payload.bad_checksum:
            unsupported.append("bad checksum marker '!'")
        start, end, length = payload.seq
        return Packet(
            flags=payload.flags,
            seq_start=start,
            seq_end=end,
            payload_len=length,
            ack=payload.ack,
            win=payload.win,
            urg=payload.urg,
            options=payload.options,
            any_options=payload.any_options,
            bad_checksum=payload.bad_checksum,
            unsupported=tuple(unsupported),
            **common,
        )
    if isinstance(payload, Icmp):
        if payload.quoted_udp_len is not None:
            unsupported.append("ICMP quoting a UDP packet")
        if payload.quoted_encapsulated:
            unsupported.append("ICMP quoting a UDP-encapsulated packet")
        return Packet(
            flags=None,
            seq_start=None,
            seq_end=None,
            payload_len=None,
            protocol="icmp",
            icmp=payload,
            unsupported=tuple(unsupported),
            **common,
        )
    _, udp_len = payload
    unsupported.append("UDP")
    return Packet(
        flags=None,
        seq_start=None,
        seq_end=None,
        payload_len=None,
        protocol="udp",
        udp_len=udp_len,
        unsupported=tuple(unsupported),
        **common,
    )


# ---------------------------------------------------------------- entry points


@lru_cache(maxsize=1)
def _parser() -> Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="contextual", propagate_positions=False)


_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(ifdef|ifndef|else|endif)\b[ \t]*(\w*)[ \t]*$")


def _preprocess(text: str, defines: frozenset[str], filename: str) -> str:
    lines = text.split("\n")
    stack: list[tuple[bool, bool, int]] = []  # (parent active, branch active, line)
    active = True
    out: list[str] = []
    for number, line in enumerate(lines, 1):
        m = _DIRECTIVE.match(line)
        if m is None:
            out.append(line if active else "")
            continue
        directive, name = m.groups()
        if directive in ("ifdef", "ifndef"):
            if not name:
                raise ScriptError(filename, number, 1, f"#{directive} needs a name")
            cond = (name in defines) == (directive == "ifdef")
            stack.append((active, cond, number))
            active = active and cond
        elif not stack:
            raise ScriptError(filename, number, 1, f"#{directive} without #ifdef")
        elif directive == "else":
            parent, cond, start = stack[-1]
            stack[-1] = (parent, not cond, start)
            active = parent and not cond
        else:
            active = stack.pop()[0]
        out.append("")
    if stack:
        raise ScriptError(filename, stack[-1][2], 1, "#ifdef without #endif")
    return "\n".join(out)


def _describe(exc: UnexpectedInput) -> str:
    if isinstance(exc, UnexpectedCharacters):
        return f"unexpected character {exc.char!r}"
    if isinstance(exc, UnexpectedEOF):
        return "unexpected end of script"
    token = getattr(exc, "token", None)
    expected = sorted(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or [])
    what = "end of script" if token is None or token.type == "$END" else repr(str(token))
    shown = ", ".join(expected[:8]) + (", ..." if len(expected) > 8 else "")
    return f"unexpected {what}" + (f"; expected one of: {shown}" if shown else "")


def parse(text: str, filename: str = "<script>", defines: frozenset[str] = frozenset()) -> Script:
    """Parse a packetdrill script; raise :class:`ScriptError` on malformed input."""
    source = _preprocess(text, defines, filename)
    try:
        tree = _parser().parse(source)
        options_toks, events = _Builder().transform(tree)
    except UnexpectedInput as exc:
        line, column = exc.line, exc.column
        token = getattr(exc, "token", None)
        if isinstance(exc, UnexpectedEOF) or (token is not None and token.type == "$END"):
            # point just past the last non-blank character
            before = source.rstrip()
            line = before.count("\n") + 1
            column = len(before) - before.rfind("\n")
        raise ScriptError(filename, line, column, _describe(exc)) from None
    except VisitError as exc:
        orig = exc.orig_exc
        if isinstance(orig, _Error):
            raise ScriptError(filename, orig.line, orig.column, orig.message) from None
        raise
    options: dict[str, str | None] = {}
    for tok in options_toks:
        name, eq, value = str(tok)[2:].partition("=")
        options[name] = value if eq else None
    return Script(options, events, filename)

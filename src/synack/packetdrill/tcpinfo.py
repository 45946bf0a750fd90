"""packetdrill's ``%{ ... }%`` blocks: Python asserts over a socket's TCP_INFO.

packetdrill hands those blocks to a Python interpreter with the ``tcpi_*`` fields of
getsockopt(TCP_INFO) as variables. Running a script's code here would let any script run
anything, so the block is parsed instead and only a small, side-effect-free subset is
evaluated: ``assert`` statements over comparisons, arithmetic, ``and``/``or``/``not``,
numbers, the fields synack can report, and names a block assigned a constant to (as in
``TCP_INFINITE_SSTHRESH = 0x7fffffff``). Anything else is reported as unsupported.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from typing import Any

from synack.tcp.connection import Connection
from synack.tcp.state import State

#: Linux's TCP_INFINITE_SSTHRESH: what tcpi_snd_ssthresh shows before the first loss.
INFINITE_SSTHRESH = 0x7FFFFFFF
#: synack's NewReno starts ssthresh at 2**30 bytes: "no loss yet".
_NO_SSTHRESH_YET = 1 << 30
#: tcpi_options bits, the same on Linux and FreeBSD.
OPTION_BITS = {
    "TCPI_OPT_TIMESTAMPS": 1,
    "TCPI_OPT_SACK": 2,
    "TCPI_OPT_WSCALE": 4,
    "TCPI_OPT_ECN": 8,
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_ARITHMETIC: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
}


class Unsupported(Exception):
    """The block uses something this evaluator (or synack's TCP_INFO) does not have."""


class AssertionFailed(Exception):
    """An assert of the block did not hold; the message says which and the values."""


def tcp_info(
    conn: Connection | None, state: State, now: int, cwnd_in_bytes: bool
) -> dict[str, int | str]:
    """The TCP_INFO fields synack can report for a socket (its connection may be gone).

    ``cwnd_in_bytes``: FreeBSD reports tcpi_snd_cwnd in bytes, Linux in segments.
    """
    info: dict[str, int | str] = {"tcpi_state": state.name}
    if conn is None:
        return info
    mss = max(conn.snd_mss, 1)
    ssthresh = conn.cc.ssthresh
    info.update(
        tcpi_snd_cwnd=conn.cc.cwnd if cwnd_in_bytes else conn.cc.cwnd // mss,
        tcpi_snd_ssthresh=(
            INFINITE_SSTHRESH
            if ssthresh >= _NO_SSTHRESH_YET
            else (ssthresh if cwnd_in_bytes else ssthresh // mss)
        ),
        tcpi_snd_mss=conn.snd_mss,
        tcpi_advmss=conn.our_mss,
        tcpi_rto=conn.rto.rto,
        tcpi_backoff=conn.rto.backoff,
        tcpi_probes=conn.probes_out,
        tcpi_unacked=-(-((conn.snd_max - conn.snd_una) & 0xFFFFFFFF) // mss),
        tcpi_options=(
            (OPTION_BITS["TCPI_OPT_TIMESTAMPS"] if conn.ts_ok else 0)
            | (OPTION_BITS["TCPI_OPT_SACK"] if conn.sack_negotiated else 0)
            | (OPTION_BITS["TCPI_OPT_WSCALE"] if conn.ws_ok else 0)
            | (OPTION_BITS["TCPI_OPT_ECN"] if conn.ecn_ok else 0)
        ),
    )
    if conn.rto.srtt is not None:
        info["tcpi_rtt"] = conn.rto.srtt
        info["tcpi_rttvar"] = conn.rto.rttvar
    return info


def _state_name(name: str) -> str | None:
    """``TCPI_ESTABLISHED`` (FreeBSD's names) and ``TCP_ESTABLISHED`` as synack's."""
    for prefix in ("TCPI_", "TCP_"):
        if name.startswith(prefix):
            state = name.removeprefix(prefix).replace("SYN_RECEIVED", "SYN_RCVD")
            if state in State.__members__:
                return state
    return None


class _Evaluator:
    def __init__(self, info: dict[str, int | str], names: dict[str, int]) -> None:
        self.info = info
        self.names = names

    def value(self, node: ast.expr) -> int | str | bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, str)):
            return node.value
        if isinstance(node, ast.Name):
            return self.name(node.id)
        if isinstance(node, ast.Compare):
            left = self.value(node.left)
            for op, right_node in zip(node.ops, node.comparators, strict=True):
                right = self.value(right_node)
                compare = _COMPARE.get(type(op))
                if compare is None:
                    raise Unsupported(f"comparison {ast.dump(op)}")
                try:
                    if not compare(left, right):
                        return False
                except TypeError:
                    raise Unsupported(f"comparison of {left!r} and {right!r}") from None
                left = right
            return True
        if isinstance(node, ast.BoolOp):
            values = (self.value(v) for v in node.values)
            return all(values) if isinstance(node.op, ast.And) else any(values)
        if isinstance(node, ast.UnaryOp):
            operand = self.value(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            if isinstance(node.op, ast.USub) and isinstance(operand, int):
                return -operand
        if isinstance(node, ast.BinOp):
            arithmetic = _ARITHMETIC.get(type(node.op))
            left, right = self.value(node.left), self.value(node.right)
            if arithmetic is not None and isinstance(left, int) and isinstance(right, int):
                try:
                    return arithmetic(left, right)
                except ZeroDivisionError:
                    raise Unsupported("division by zero") from None
        raise Unsupported(f"expression {ast.unparse(node)}")

    def name(self, name: str) -> int | str:
        if name in self.info:
            return self.info[name]
        if name.startswith("tcpi_"):
            raise Unsupported(f"TCP_INFO field {name}")
        if name in self.names:
            return self.names[name]
        if name in OPTION_BITS:
            return OPTION_BITS[name]
        state = _state_name(name)
        if state is not None:
            return state
        raise Unsupported(f"name {name}")


def run_block(code: str, info: dict[str, int | str], names: dict[str, int]) -> None:
    """Check every assert of ``code``; constants it assigns are kept in ``names``.

    Raises Unsupported, or AssertionFailed naming the failed assert and what it saw.
    """
    try:
        tree = ast.parse(_dedent(code))
    except SyntaxError as exc:
        raise Unsupported(f"Python block: {exc.msg}") from None
    evaluator = _Evaluator(info, names)
    for statement in tree.body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
            target = statement.targets[0]
            value = evaluator.value(statement.value)
            if isinstance(target, ast.Name) and isinstance(value, int):
                names[target.id] = value
                continue
        if not isinstance(statement, ast.Assert):
            raise Unsupported(f"statement {ast.unparse(statement)}")
        if not evaluator.value(statement.test):
            seen = sorted(
                {n.id for n in ast.walk(statement.test) if isinstance(n, ast.Name)} & set(info)
            )
            values = ", ".join(f"{n}={info[n]}" for n in seen)
            raise AssertionFailed(f"{ast.unparse(statement.test)} ({values})")


def _dedent(code: str) -> str:
    """Blocks are indented as the script is, and may continue lines with backslashes."""
    lines = [line.strip() for line in code.replace("\\\n", " ").splitlines()]
    return "\n".join(line for line in lines if line)

"""A host's sockets and counters as ``ss -tan`` and ``nstat -az`` would show them.

Pure functions of a `Stack` returning text, so the same views serve the CLI, tests and
a debugger alike. Where Linux's tools have a convention, these follow it:

- ``ss``: state names (``ESTAB``, ``SYN-SENT``, ``TIME-WAIT``...); for a listener,
  Recv-Q is the accept-queue length and Send-Q the backlog; for a connection, Recv-Q is
  the bytes received and not yet read, Send-Q the bytes written and not yet acknowledged
  (an unacknowledged SYN or FIN counts one, as sequence space). Half-open children of a
  listener and TIME-WAIT entries have no queues and show 0 0, as Linux's request and
  timewait sockets do. A listener on every address shows as ``*:port``. With timers,
  each line ends like ``ss -o``: ``timer:(name,time left,count)``.
- ``nstat``: one counter a line, name and value columns, every standard counter even
  when zero (``-z``), absolute values (``-a``), grouped in /proc/net/snmp then
  /proc/net/netstat order (Ip, Icmp, Tcp, Udp, then TcpExt, IpExt), synack's own
  counters last. nstat's third column, a rate over its sampling interval, has no meaning
  for a snapshot and is left out.
"""

from __future__ import annotations

from synack.stack import Stack, format_address
from synack.tcp import seq as sq
from synack.tcp.connection import Connection
from synack.tcp.listener import Listener
from synack.tcp.state import State

#: ss's name for each state (iproute2 ss.c, sstate_name).
SS_STATE = {
    State.CLOSED: "UNCONN",
    State.LISTEN: "LISTEN",
    State.SYN_SENT: "SYN-SENT",
    State.SYN_RCVD: "SYN-RECV",
    State.ESTABLISHED: "ESTAB",
    State.FIN_WAIT_1: "FIN-WAIT-1",
    State.FIN_WAIT_2: "FIN-WAIT-2",
    State.CLOSE_WAIT: "CLOSE-WAIT",
    State.CLOSING: "CLOSING",
    State.LAST_ACK: "LAST-ACK",
    State.TIME_WAIT: "TIME-WAIT",
}

SS_HEADER = ("State", "Recv-Q", "Send-Q", "Local Address:Port", "Peer Address:Port")

_US_PER_MS = 1000


def _endpoint(address: bytes, port: int) -> tuple[str, str]:
    """(address, port) as ss prints them: IPv6 in brackets, ``*`` for every address."""
    text = format_address(address)
    return (f"[{text}]" if len(address) == 16 else text), str(port)


def _any_peer(local: bytes) -> tuple[str, str]:
    """A listener's peer column: any address of its family, any port."""
    return {4: "0.0.0.0", 16: "[::]"}.get(len(local), "*"), "*"


def ms_timer(ms: int) -> str:
    """A duration as ss prints timers (iproute2 ss.c, print_ms_timer): 200ms, 1.500ms,
    59sec, 1min30sec, 119min."""
    secs, msecs = divmod(max(ms, 0), 1000)
    minutes, secs = divmod(secs, 60)
    out = ""
    if minutes:
        msecs = 0
        out = f"{minutes}min"
        if minutes > 9:
            secs = 0
    if secs:
        if secs > 9:
            msecs = 0
        out += f"{secs}{'.' if msecs else 'sec'}"
    if msecs:
        out += f"{msecs:03d}ms"
    return out or "0ms"


def _timer(conn: Connection, now: int) -> str:
    """ss -o's timer field, or "" when no timer runs. Like Linux, a retransmission
    timer wins over persist, and either over keepalive; ss does not show a delayed ACK."""
    name, at, count = "", None, 0
    if conn.state is State.TIME_WAIT or (conn.state is State.FIN_WAIT_2 and conn.state_at):
        name, at = "timewait", conn.state_at
    elif conn.rtx_at is not None:
        name, at, count = "on", conn.rtx_at, conn.retries
    elif conn.persist_at is not None:
        name, at, count = "persist", conn.persist_at, conn.probes_out
    elif conn.keep_at is not None:
        name, at, count = "keepalive", conn.keep_at, conn.probes_out
    if at is None:
        return ""
    left = -(-(at - now) // _US_PER_MS)  # round up, as jiffies do
    return f"timer:({name},{ms_timer(left)},{count})"


def _time_wait_timer(expiry: int, now: int) -> str:
    left = -(-(expiry - now) // _US_PER_MS)
    return f"timer:(timewait,{ms_timer(left)},0)"


def _send_queue(conn: Connection) -> int:
    """Sequence space written and not yet acknowledged (Linux: write_seq - snd_una)."""
    end = sq.add(conn.fin_seq, 1) if conn.fin_queued else conn.fin_seq
    return max(sq.diff(end, conn.snd_una), 0)


def _connection_row(conn: Connection) -> tuple[str, int, int, bytes, int, bytes, int]:
    laddr, lport, raddr, rport = conn.key
    state = SS_STATE[conn.state]
    if conn.state is State.TIME_WAIT or (
        conn.state is State.SYN_RCVD and conn.listener is not None
    ):
        return state, 0, 0, laddr, lport, raddr, rport
    return state, len(conn.rcv_buf), _send_queue(conn), laddr, lport, raddr, rport


def ss(stack: Stack, timers: bool = False, now: int | None = None) -> str:
    """The host's TCP sockets like ``ss -tan`` (``ss -tano`` with ``timers``).

    Listeners come first, then connections in the order they were made. ``now`` (for
    the time left on timers) defaults to the last time the stack was driven.
    """
    when = stack.now if now is None else now
    rows: list[tuple[str, ...]] = []
    listeners: list[Listener] = sorted(stack.listeners.values(), key=lambda lst: lst.port)
    for lst in listeners:
        local = _endpoint(lst.address, lst.port)
        peer = _any_peer(lst.address)
        extra = ("",) if timers else ()
        state = SS_STATE[lst.state]
        rows.append((state, str(len(lst.accept_queue)), str(lst.backlog), *local, *peer, *extra))
    for conn in stack.connections.values():
        if conn.state is State.CLOSED:
            continue
        state, recv_q, send_q, laddr, lport, raddr, rport = _connection_row(conn)
        extra = (_timer(conn, when),) if timers else ()
        local = _endpoint(laddr, lport)
        peer = _endpoint(raddr, rport)
        rows.append((state, str(recv_q), str(send_q), *local, *peer, *extra))
    for entry in stack.time_wait:
        laddr, lport, raddr, rport = entry.key
        extra = (_time_wait_timer(entry.expiry, when),) if timers else ()
        local = _endpoint(laddr, lport)
        peer = _endpoint(raddr, rport)
        rows.append((SS_STATE[State.TIME_WAIT], "0", "0", *local, *peer, *extra))
    for lst in listeners:  # half-open SYN-cache entries: SYN_RCVD, no connection object
        for half_open in lst.syncache.entries() if lst.syncache is not None else ():
            laddr, lport, raddr, rport = half_open.key
            left = -(-(lst.entry_deadline(half_open) - when) // _US_PER_MS)
            timer = f"timer:(on,{ms_timer(left)},{half_open.retries})"
            extra = (timer,) if timers else ()
            state = SS_STATE[State.SYN_RCVD]
            rows.append(
                (state, "0", "0", *_endpoint(laddr, lport), *_endpoint(raddr, rport), *extra)
            )
    return _table(rows, timers)


def _table(rows: list[tuple[str, ...]], timers: bool) -> str:
    """Columns as ss lays them out: state and queues left-aligned, each address
    right-aligned against its ``:port``, the port left-aligned."""
    w_state = max([len(SS_HEADER[0])] + [len(r[0]) for r in rows]) + 1
    w_recv = max([len(SS_HEADER[1])] + [len(r[1]) for r in rows]) + 1
    w_send = max([len(SS_HEADER[2])] + [len(r[2]) for r in rows]) + 1
    w_laddr = max([len("Local Address")] + [len(r[3]) for r in rows])
    w_lport = max([len("Port")] + [len(r[4]) for r in rows])
    w_raddr = max([len("Peer Address")] + [len(r[5]) for r in rows])
    w_rport = max([len("Port")] + [len(r[6]) for r in rows])
    head = (
        f"{'State':<{w_state}}{'Recv-Q':<{w_recv}}{'Send-Q':<{w_send}}"
        f"{'Local Address':>{w_laddr}}:{'Port':<{w_lport}} "
        f"{'Peer Address':>{w_raddr}}:{'Port':<{w_rport}}"
    )
    lines = [head.rstrip()]
    for r in rows:
        line = (
            f"{r[0]:<{w_state}}{r[1]:<{w_recv}}{r[2]:<{w_send}}"
            f"{r[3]:>{w_laddr}}:{r[4]:<{w_lport}} {r[5]:>{w_raddr}}:{r[6]:<{w_rport}}"
        )
        if timers and r[7]:
            line += " " + r[7]
        lines.append(line.rstrip())
    return "\n".join(lines)


#: nstat prints /proc/net/snmp (Ip, Icmp, IcmpMsg, Tcp, Udp, UdpLite) before
#: /proc/net/netstat (TcpExt, IpExt); longest prefixes first so TcpExt is not Tcp.
_GROUPS = ("IpExt", "IcmpMsg", "TcpExt", "UdpLite", "Ip", "Icmp", "Tcp", "Udp")
_GROUP_RANK = {"Ip": 0, "Icmp": 1, "IcmpMsg": 2, "Tcp": 3, "Udp": 4, "UdpLite": 5}
_GROUP_RANK |= {"TcpExt": 6, "IpExt": 7}


def _group_rank(name: str) -> int:
    for prefix in _GROUPS:
        if name.startswith(prefix) and name[len(prefix) : len(prefix) + 1].isupper():
            return _GROUP_RANK[prefix]
    return len(_GROUP_RANK)  # synack's own counters (SynackInternalErrors...) last


def nstat(stack: Stack) -> str:
    """The host's counters like ``nstat -az``: ``#kernel``, then name and value."""
    counters = stack.snapshot_counters()
    order = {name: i for i, name in enumerate(counters)}
    names = sorted(counters, key=lambda n: (_group_rank(n), order[n]))
    width = max([32] + [len(n) + 1 for n in names])
    lines = ["#kernel"]
    lines.extend(f"{name:<{width}}{counters[name]}" for name in names)
    return "\n".join(lines)

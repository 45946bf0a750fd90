"""Transfers over a hostile network, checked byte for byte: the integrity property.

One seed decides everything about a run (``plan_for``): the link's impairments (loss,
duplication, reordering, corruption, jitter, a bandwidth limit with a small queue), the
profile and buffer sizes, ISNs just below the 2**32 wrap, how many bytes each side sends,
how it writes and reads (chunk sizes, a slow reader), and when it shuts down writing. Two
applications then run at once on non-blocking sockets (``run_transfer``): A connects to
B, both send their bytes while reading the other's, each shuts down writing when its plan
says (so one side's FIN may arrive while the other is still sending), and each waits for
its connection to finish. ``check`` states what is accepted (see its docstring); the
property test runs hundreds of seeds, and ``synack demo integrity --seed N --delay D
--loss L`` replays any one of them with a ladder diagram.

Every run is bounded in virtual time and in simulator events, so a hang becomes a clear
``IntegrityError`` instead of a stuck test.
"""

from __future__ import annotations

import errno
import hashlib
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from synack.api.socket import (
    IPPROTO_TCP,
    SHUT_WR,
    SO_ERROR,
    SO_KEEPALIVE,
    SO_RCVBUF,
    SO_SNDBUF,
    SOL_SOCKET,
    TCP_KEEPCNT,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_NODELAY,
    Socket,
)
from synack.scenarios.registry import Options, scenario
from synack.scenarios.world import World
from synack.sim.link import LinkConfig
from synack.tcp.config import LINUX, RFC, SECOND, TcpConfig
from synack.tcp.connection import Connection
from synack.tcp.listener import Listener
from synack.tcp.state import State

PORT = 80
#: Largest stream one side sends.
MAX_BYTES = 200_000
#: A run has hung when nothing moved for this long: no byte sent, read or acknowledged,
#: no state changed. A live connection gives up well within it: 16 retransmissions at
#: the 120 s RTO ceiling (32 min), then the peer's keepalive (120 s + 9 x 30 s).
STALL_US = 60 * 60 * SECOND
#: ...and no run, however slow (a 300-byte buffer on a 30 % loss path crawls), lasts longer.
TIME_LIMIT_US = 24 * 60 * 60 * SECOND
#: ...or takes more simulator events (a livelock such as an ACK war keeps the clock moving).
EVENT_LIMIT = 200_000
#: After both applications are done, every connection must be gone within this time
#: (TIME_WAIT is 60 s; a late duplicate FIN may restart it).
CLEANUP_US = 10 * 60 * SECOND
#: Keepalive on both sockets, so that an application whose peer gave up silently (a
#: retransmission timeout sends no RST) hears about it: 120 s idle, 9 probes 30 s apart.
KEEPALIVE = (120, 30, 9)
#: Errors an application may see when the network wins: the stack gave up (ETIMEDOUT) or
#: the peer's stack no longer knows the connection (ECONNRESET).
ACCEPTED_ERRORS = (errno.ETIMEDOUT, errno.ECONNRESET)


class IntegrityError(AssertionError):
    """A run broke the integrity property: a byte lost or changed, a false EOF, a hang."""


@dataclass(frozen=True, slots=True)
class SidePlan:
    """What one application (A, the client, or B, the server) does."""

    size: int  # bytes it sends
    chunk: int  # bytes offered per send() call
    read: int  # bufsize of each recv() call
    read_pause_us: int  # after each recv() with data the reader sleeps this long (0: never)
    eager_shutdown: bool  # SHUT_WR right after the last byte is queued; else after EOF
    nodelay: bool
    isn: int | None  # forced initial sequence number (near the wrap), None for RFC 6528
    rcvbuf: int | None  # SO_RCVBUF (for B set on the listener, so applied after accept)
    sndbuf: int | None  # SO_SNDBUF


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything about one run; ``plan_for(seed)`` makes it, ``run_transfer`` plays it."""

    seed: int
    link: LinkConfig
    profile: str  # "linux" or "rfc"
    v6: bool
    retries2: int
    syn_retries: int
    synack_retries: int
    rmem: int | None  # stack-wide receive buffer (also fixes the window scale), or default
    wmem: int | None
    a: SidePlan
    b: SidePlan
    mtu: int = LINUX.mtu  # of both hosts: the MSS they announce follows
    timestamps: bool = True
    window_scaling: bool = True

    def config(self) -> TcpConfig:
        base = RFC if self.profile == "rfc" else LINUX
        changes: dict[str, int | bool] = {
            "retries2": self.retries2,
            "syn_retries": self.syn_retries,
            "synack_retries": self.synack_retries,
            "mtu": self.mtu,
            "timestamps": self.timestamps,
            "window_scaling": self.window_scaling,
        }
        if self.rmem is not None:
            changes["rmem"] = self.rmem
        if self.wmem is not None:
            changes["wmem"] = self.wmem
        return base.with_changes(**changes)

    @property
    def delay_ms(self) -> float:
        return self.link.delay_us / 1000

    def replay(self) -> str:
        """The command that replays this run, with a ladder diagram."""
        return (
            f"synack demo integrity --seed {self.seed} --delay {self.delay_ms!r} "
            f"--loss {self.link.loss!r}"
        )

    @property
    def strict(self) -> bool:
        """A network on which giving up is implausible, so any error is a failure.

        Up to 5 % loss and 2 % corruption, no bandwidth limit (so no tail drops) and the
        default retry counts: a round trip fails with probability below 1 - 0.93**2 < 0.14,
        so seven SYNs all fail below once in a million runs, and sixteen retransmissions
        in a row (what retries2 = 15 takes) below 2e-14 per stall.
        """
        link = self.link
        return (
            link.loss <= 0.05
            and link.corrupt <= 0.02
            and link.bandwidth_bps is None
            and self.retries2 == LINUX.retries2
            and self.syn_retries == LINUX.syn_retries
            and self.synack_retries == LINUX.synack_retries
        )

    def describe(self) -> str:
        link = self.link
        parts = [
            f"seed={self.seed} profile={self.profile} v6={self.v6}",
            f"link: delay={link.delay_us}us jitter={link.jitter_us}us loss={link.loss} "
            f"dup={link.duplicate} reorder={link.reorder}/{link.reorder_delay_us}us "
            f"corrupt={link.corrupt} bw={link.bandwidth_bps} queue={link.queue_packets}",
            f"retries2={self.retries2} syn_retries={self.syn_retries} "
            f"synack_retries={self.synack_retries} rmem={self.rmem} wmem={self.wmem} "
            f"mtu={self.mtu} timestamps={self.timestamps} "
            f"window_scaling={self.window_scaling}",
            f"A: {self.a}",
            f"B: {self.b}",
        ]
        return "\n".join(parts)


def _log_uniform(rng: random.Random, low: float, high: float) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))


def _maybe(rng: random.Random, p: float) -> bool:
    return rng.random() < p


def plan_for(seed: int, delay_ms: float | None = None, loss: float | None = None) -> Plan:
    """The run that ``seed`` stands for: the one function the test and the demo share.

    Every choice comes from ``random.Random(seed)``, always in the same order;
    ``delay_ms`` and ``loss``, when given (the demo's --delay and --loss), replace the
    drawn values after all the drawing, so everything else stays as the seed says.
    """
    rng = random.Random(seed)
    # --- the link ---
    delay_us = 0 if _maybe(rng, 0.05) else _log_uniform(rng, 50, 100_000)
    drawn_loss = rng.choice(
        (0.0, 0.0, round(rng.uniform(0, 0.05), 3), round(rng.uniform(0, 0.3), 3))
    )
    duplicate = round(rng.uniform(0, 0.1), 3) if _maybe(rng, 0.3) else 0.0
    reorder = round(rng.uniform(0, 0.2), 3) if _maybe(rng, 0.3) else 0.0
    reorder_delay_us = _log_uniform(rng, 100, 200_000) if _maybe(rng, 0.5) else 0
    corrupt = round(rng.uniform(0, 0.1), 3) if _maybe(rng, 0.25) else 0.0
    jitter_us = _log_uniform(rng, 10, 50_000) if _maybe(rng, 0.3) else 0
    limited = _maybe(rng, 0.25)
    bandwidth = _log_uniform(rng, 64_000, 100_000_000) if limited else None
    queue = _log_uniform(rng, 1, 200) if limited else 1000
    # --- the stacks ---
    profile = "rfc" if _maybe(rng, 0.2) else "linux"
    v6 = _maybe(rng, 0.2)
    fragile = _maybe(rng, 0.2)  # few retries, so that giving up (and its reporting) happens
    retries2 = rng.randint(1, 5) if fragile else LINUX.retries2
    syn_retries = rng.randint(1, 4) if fragile else LINUX.syn_retries
    synack_retries = rng.randint(1, 4) if fragile else LINUX.synack_retries
    tiny = _maybe(rng, 0.25)
    rmem = _log_uniform(rng, 256, 16_384) if tiny else None
    wmem = _log_uniform(rng, 256, 16_384) if tiny else None
    large = not tiny and _maybe(rng, 0.15)  # a window holding the whole stream (wscale > 2)
    if large:
        rmem = _log_uniform(rng, 262_144, 4_194_304)
        wmem = _log_uniform(rng, 262_144, 4_194_304)
    # --- the applications ---
    mode = rng.choice(("a-to-b", "b-to-a", "both", "both", "half-close-a", "half-close-b"))
    sizes = [_log_uniform(rng, 500, MAX_BYTES) for _ in range(2)]
    for i in range(2):
        if _maybe(rng, 0.05):
            sizes[i] = 0
    if mode == "a-to-b":
        sizes[1] = 0
    elif mode == "b-to-a":
        sizes[0] = 0
    elif mode == "half-close-a":
        sizes[0] = rng.randint(0, 2000)
    elif mode == "half-close-b":
        sizes[1] = rng.randint(0, 2000)
    eager = [_maybe(rng, 0.7), _maybe(rng, 0.7)]
    if not any(eager):
        eager[rng.randrange(2)] = True
    if mode == "half-close-a":
        eager[0] = True
    elif mode == "half-close-b":
        eager[1] = True
    sides = []
    for i in range(2):
        size = sizes[i]
        # Floors keep a run to a few thousand calls: one byte per call is not the point.
        chunk = max(_log_uniform(rng, 1, 65_536), size // 2000 + 1)
        read = max(_log_uniform(rng, 1, 65_536), sizes[1 - i] // 2000 + 1)
        pause = _log_uniform(rng, 100, 200_000) if _maybe(rng, 0.2) else 0
        isn = 2**32 - _log_uniform(rng, 1, 300_000) if _maybe(rng, 0.3) else None
        rcvbuf = _log_uniform(rng, 256, 16_384) if _maybe(rng, 0.15) else None
        sndbuf = _log_uniform(rng, 256, 16_384) if _maybe(rng, 0.15) else None
        sides.append(
            SidePlan(
                size=size,
                chunk=chunk,
                read=read,
                read_pause_us=pause,
                eager_shutdown=eager[i],
                nodelay=_maybe(rng, 0.3),
                isn=isn,
                rcvbuf=rcvbuf,
                sndbuf=sndbuf,
            )
        )
    mtu = rng.randint(576, 1500) if _maybe(rng, 0.1) else LINUX.mtu
    timestamps = not _maybe(rng, 0.1)
    window_scaling = not _maybe(rng, 0.1)
    link = LinkConfig(
        delay_us=delay_us,
        jitter_us=jitter_us,
        loss=drawn_loss,
        duplicate=duplicate,
        reorder=reorder,
        reorder_delay_us=reorder_delay_us,
        corrupt=corrupt,
        bandwidth_bps=bandwidth,
        queue_packets=queue,
    )
    if delay_ms is not None:
        link = replace(link, delay_us=round(delay_ms * 1000))
    if loss is not None:
        link = replace(link, loss=loss)
    return Plan(
        seed=seed,
        link=link,
        profile=profile,
        v6=v6,
        retries2=retries2,
        syn_retries=syn_retries,
        synack_retries=synack_retries,
        rmem=rmem,
        wmem=wmem,
        a=sides[0],
        b=sides[1],
        mtu=mtu,
        timestamps=timestamps,
        window_scaling=window_scaling,
    )


def stream(seed: int, host: str, size: int) -> bytes:
    """The bytes ``host`` sends in the run of ``seed`` (random, so a shift shows)."""
    return random.Random(f"{seed}/{host}/data").randbytes(size)


def _os_error(code: int) -> OSError:
    """The exception for ``code``: OSError picks the subclass (TimeoutError...)."""
    return OSError(code, os.strerror(code))


@dataclass(eq=False)
class App:
    """One application's view of the run, as it went."""

    name: str
    plan: SidePlan
    data: bytes
    sock: Socket | None = None  # the connected socket, once there is one
    sent: int = 0  # bytes send() took
    received: bytearray = field(default_factory=bytearray)
    eof: bool = False  # recv() returned b"" (the peer's clean end of stream)
    shut: bool = False  # shutdown(SHUT_WR) done
    done: bool = False  # all sent, all read, EOF seen and the connection ended cleanly
    error: OSError | None = None  # the first error a socket call (or SO_ERROR) reported
    never_connected: bool = False  # B only: no connection ever reached accept()
    next_read_at: int = 0
    log: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.done or self.error is not None or self.never_connected

    @property
    def conn(self) -> Connection | None:
        return None if self.sock is None else self.sock.connection

    def summary(self) -> str:
        conn = self.conn
        state = conn.state if conn is not None else "no connection"
        return (
            f"{self.name}: sent {self.sent}/{len(self.data)} received {len(self.received)} "
            f"eof={self.eof} shut={self.shut} done={self.done} error={self.error!r} "
            f"never_connected={self.never_connected} state={state}"
        )


def _send_ready(conn: Connection) -> bool:
    """Socket.send would not raise BlockingIOError (its own readiness test)."""
    return (
        conn.send_space() > 0
        or conn.error is not None
        or conn.fin_queued
        or conn.state not in (State.ESTABLISHED, State.CLOSE_WAIT, State.SYN_SENT)
    )


def _recv_ready(conn: Connection) -> bool:
    """Socket.recv would not raise BlockingIOError."""
    return bool(conn.rcv_buf) or conn.at_eof or conn.error is not None or conn.rcv_shut


class _Driver:
    """Both applications, stepped in turn, with the network run in between."""

    def __init__(self, plan: Plan, world: World) -> None:
        self.plan = plan
        self.world = world
        self.net = world.net
        self.events = 0
        v6 = plan.v6
        self.a = App("A", plan.a, stream(plan.seed, "A", plan.a.size))
        self.b = App("B", plan.b, stream(plan.seed, "B", plan.b.size))
        self.listener = world.socket("B", v6)
        self._options(self.listener, plan.b)
        self.listener.bind((world.address("B", v6), PORT))
        self.listener.listen(8)
        self.listener.setblocking(False)
        client = world.socket("A", v6)
        self._options(client, plan.a)
        client.setblocking(False)
        self.client = client
        code = client.connect_ex((world.address("B", v6), PORT))
        if code != errno.EINPROGRESS:
            raise IntegrityError(f"connect_ex returned {errno.errorcode.get(code, code)}")

    @staticmethod
    def _options(sock: Socket, side: SidePlan) -> None:
        idle, interval, count = KEEPALIVE
        sock.setsockopt(SOL_SOCKET, SO_KEEPALIVE, 1)
        sock.setsockopt(IPPROTO_TCP, TCP_KEEPIDLE, idle)
        sock.setsockopt(IPPROTO_TCP, TCP_KEEPINTVL, interval)
        sock.setsockopt(IPPROTO_TCP, TCP_KEEPCNT, count)
        if side.nodelay:
            sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1)
        if side.rcvbuf is not None:
            sock.setsockopt(SOL_SOCKET, SO_RCVBUF, side.rcvbuf)
        if side.sndbuf is not None:
            sock.setsockopt(SOL_SOCKET, SO_SNDBUF, side.sndbuf)

    # ------------------------------------------------------------- readiness

    def _connect_ready(self, app: App) -> bool:
        if app is self.a:
            conn = self.client.connection
            return conn is None or conn.state not in (State.SYN_SENT, State.SYN_RCVD)
        listener = self._listener()
        if listener.accept_queue:
            return True
        # Nothing will ever arrive once A gave up and no half-open child is left.
        return self.a.finished and not listener.half_open

    def _ready(self, app: App) -> bool:
        """The application has something to do now (its next step makes progress)."""
        if app.finished:
            return False
        conn = app.conn
        if conn is None:
            return self._connect_ready(app)
        if app.sent < len(app.data) and _send_ready(conn):
            return True
        if not app.shut and app.sent == len(app.data) and (app.plan.eager_shutdown or app.eof):
            return True
        if not app.eof and self.net.now >= app.next_read_at and _recv_ready(conn):
            return True
        return app.shut and app.eof and conn.state in (State.TIME_WAIT, State.CLOSED)

    # ------------------------------------------------------------- steps

    def _connect(self, app: App) -> None:
        if app is self.a:
            code = self.client.connect_ex(self._peer())
            if code in (0, errno.EISCONN):
                app.sock = self.client
                app.log.append(f"{self.net.now}: connected")
            else:
                app.error = _os_error(code)
                app.log.append(f"{self.net.now}: connect failed: {app.error!r}")
            return
        if not self._listener().accept_queue:
            app.never_connected = True
            app.log.append(f"{self.net.now}: never connected")
            return
        try:
            sock, _ = self.listener.accept()
        except BlockingIOError:
            return  # the queued child had already closed without news; wait on
        app.sock = sock
        app.log.append(f"{self.net.now}: accepted")

    def _listener(self) -> Listener:
        (listener,) = self.world.stack("B").listeners.values()
        return listener

    def _peer(self) -> tuple[str, int]:
        return (self.world.address("B", self.plan.v6), PORT)

    def _step(self, app: App) -> None:
        if app.conn is None:
            self._connect(app)
            return
        sock = app.sock
        assert sock is not None
        now = self.net.now
        view = memoryview(app.data)
        try:
            while app.sent < len(app.data):
                try:
                    n = sock.send(view[app.sent : app.sent + app.plan.chunk])
                except BlockingIOError:
                    break
                app.sent += n
            self._maybe_shutdown(app, sock)
            if not app.eof and now >= app.next_read_at:
                while True:
                    try:
                        piece = sock.recv(app.plan.read)
                    except BlockingIOError:
                        break
                    if not piece:
                        app.eof = True
                        app.log.append(f"{now}: eof after {len(app.received)} bytes")
                        break
                    app.received += piece
                    if app.plan.read_pause_us:
                        app.next_read_at = now + app.plan.read_pause_us
                        break
                self._maybe_shutdown(app, sock)
            conn = app.conn
            assert conn is not None
            if app.shut and app.eof and conn.state in (State.TIME_WAIT, State.CLOSED):
                code = sock.getsockopt(SOL_SOCKET, SO_ERROR)
                assert isinstance(code, int)
                if code:
                    app.error = _os_error(code)
                    app.log.append(f"{now}: SO_ERROR {app.error!r}")
                else:
                    app.done = True
                    app.log.append(f"{now}: done in {conn.state}")
        except OSError as exc:
            app.error = exc
            app.log.append(f"{now}: error {exc!r}")
        if app.finished:
            sock.close()

    def _maybe_shutdown(self, app: App, sock: Socket) -> None:
        if not app.shut and app.sent == len(app.data) and (app.plan.eager_shutdown or app.eof):
            sock.shutdown(SHUT_WR)
            app.shut = True
            app.log.append(f"{self.net.now}: shutdown(SHUT_WR)")

    # ------------------------------------------------------------- the loop

    def _any_ready(self) -> bool:
        self.events += 1
        if self.events > EVENT_LIMIT:
            raise IntegrityError(f"hang: still running after {EVENT_LIMIT} events")
        return self._ready(self.a) or self._ready(self.b)

    def _progress(self) -> tuple[object, ...]:
        """Everything that moves while a run makes progress (each part only moves forward)."""
        marks: list[object] = []
        for app in (self.a, self.b):
            marks += (app.sent, len(app.received), app.eof, app.shut, app.finished)
        for name in ("A", "B"):
            for conn in self.world.stack(name).connections.values():
                marks += (conn.key, conn.state, conn.snd_una, conn.rcv_nxt)
        return tuple(marks)

    def run(self) -> None:
        apps = (self.a, self.b)
        limit = self.net.now + TIME_LIMIT_US
        mark, mark_at = self._progress(), self.net.now
        while not all(app.finished for app in apps):
            self.events += 1  # a loop that steps without end is a hang too
            if self.events > EVENT_LIMIT:
                raise IntegrityError(f"hang: still running after {EVENT_LIMIT} events")
            progressed = False
            for app in apps:
                if self._ready(app):
                    self._step(app)
                    progressed = True
            if progressed:
                continue
            now = self.net.now
            progress = self._progress()
            if progress != mark:
                mark, mark_at = progress, now
            elif now - mark_at >= STALL_US:
                raise IntegrityError(f"hang: nothing moved for {STALL_US // SECOND} s")
            if now >= limit:
                raise IntegrityError(f"hang: not finished after {TIME_LIMIT_US // SECOND} s")
            wake = min(limit, mark_at + STALL_US)
            sleeping = [
                app.next_read_at
                for app in apps
                if not app.finished and not app.eof and app.next_read_at > now
            ]
            wake = min([wake, *sleeping])
            if not self.net.run_until(self._any_ready, timeout_us=wake - now) and (
                self.net.now < wake
            ):
                # The network went idle: only a sleeping reader can still do something.
                if not sleeping:
                    raise IntegrityError(f"hang: the network went idle at {self.net.now} us")
                self.net.run(until=wake)
        self.listener.close()

    def cleanup(self) -> None:
        """Every connection ends (TIME_WAIT expires); nothing leaks."""
        stacks = (self.world.stack("A"), self.world.stack("B"))
        if not self.net.run_until(
            lambda: not any(s.connections or s.time_wait for s in stacks),
            timeout_us=CLEANUP_US,
            max_events=EVENT_LIMIT,
        ) and any(s.connections or s.time_wait for s in stacks):
            left = [repr(c) for s in stacks for c in s.connections.values()]
            raise IntegrityError(f"connections left after the applications finished: {left}")


@dataclass(eq=False)
class Transfer:
    """A finished run: its plan, world and both applications' view."""

    plan: Plan
    world: World
    a: App
    b: App
    events: int


def run_transfer(
    plan: Plan, record: bool = False, setup: Callable[[World], None] | None = None
) -> Transfer:
    """Play ``plan`` on a fresh world; raises IntegrityError on a hang or a leak.

    ``setup`` may add faults to the world (a partition, a crash) before the run starts.
    """
    world = World(plan.seed, plan.link, config=plan.config(), record=record)
    for name, side in (("A", plan.a), ("B", plan.b)):
        if side.isn is not None:
            world.stack(name).isn_hook = _fixed_isn(side.isn)
    if setup is not None:
        setup(world)
    driver = _Driver(plan, world)
    try:
        driver.run()
        driver.cleanup()
    except IntegrityError as exc:
        raise IntegrityError(f"{exc}\n{driver.a.summary()}\n{driver.b.summary()}") from None
    return Transfer(plan, world, driver.a, driver.b, driver.events)


def _fixed_isn(isn: int) -> Callable[[object], int]:
    return lambda key: isn


def _digest(data: bytes | bytearray) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def check(result: Transfer, injected_faults: bool = False) -> str:
    """Raise IntegrityError unless the run ended in an accepted way; return which.

    Always, for each application X and its peer Y:

    - X's received bytes are a prefix of Y's stream (nothing changed, nothing skipped);
    - a clean EOF (recv() returned b"") comes only after every byte of Y's stream, and
      then the hashes of the two streams are equal;
    - X finished: done, or an error, or (B only) no connection ever reached accept();
    - an error X saw is ETIMEDOUT or ECONNRESET, never anything else.

    Then the run is accepted as:

    - "complete": both done (all sent, all received up to EOF, connection ended with
      SO_ERROR 0);
    - "error reported to both": both saw an error;
    - "last ACK lost": one is done and the other saw an error only after it too had read
      the whole stream up to EOF (only the acknowledgement of its FIN went missing: the
      Two Generals' problem, no protocol can do better);
    - "never connected": B never accepted a connection and A saw an error.

    On a ``Plan.strict`` network (little loss, default retries) any error fails, unless
    ``injected_faults`` says the run had faults of its own (a partition, a crash).
    """
    apps = (result.a, result.b)
    problems: list[str] = []
    for app, peer in ((result.a, result.b), (result.b, result.a)):
        got = bytes(app.received)
        if peer.data[: len(got)] != got:
            first = next(
                (i for i, (x, y) in enumerate(zip(got, peer.data, strict=False)) if x != y),
                min(len(got), len(peer.data)),
            )
            problems.append(
                f"{app.name} received {len(got)} bytes that differ from {peer.name}'s stream "
                f"at offset {first} (sha256 {_digest(got)} "
                f"vs prefix {_digest(peer.data[: len(got)])})"
            )
        if app.eof and _digest(got) != _digest(peer.data):
            problems.append(
                f"{app.name} saw a clean EOF after {len(got)} of {len(peer.data)} bytes "
                f"(sha256 {_digest(got)} vs {_digest(peer.data)})"
            )
        if not app.finished:
            problems.append(f"{app.name} never finished")
        if app.error is not None and app.error.errno not in ACCEPTED_ERRORS:
            problems.append(f"{app.name} saw an unexpected error {app.error!r}")
        if app.done and not (app.eof and app.shut and app.sent == len(app.data)):
            problems.append(f"{app.name} done without sending and reading everything")
    a, b = apps
    errors = [app for app in apps if app.error is not None]
    if a.done and b.done:
        outcome = "complete"
    elif len(errors) == 2:
        outcome = "error reported to both"
    elif b.never_connected:
        outcome = "never connected"
        if a.error is None:
            problems.append("B never accepted a connection but A saw no error")
    elif len(errors) == 1:
        outcome = "last ACK lost"
        (failed,) = errors
        if not failed.eof:
            problems.append(
                f"only {failed.name} saw an error ({failed.error!r}) and it had not read "
                "the whole stream: its peer was never told"
            )
    else:
        outcome = "unfinished"
    if errors and result.plan.strict and not injected_faults:
        problems.append(
            "an error on a network where giving up is implausible: "
            f"{[str(e.error) for e in errors]}"
        )
    if problems:
        raise IntegrityError(
            "; ".join(problems) + f"\n{a.summary()}\n{b.summary()}\nA log: {a.log}\nB log: {b.log}"
        )
    return outcome


@scenario(
    "PROP",
    "integrity",
    "a transfer over random impairments, drawn from --seed, checked byte for byte",
)
def integrity(opts: Options) -> World:
    """Replay one example of the integrity property test (tests/scenarios/test_integrity).

    The seed draws every impairment and application behaviour; --delay and --loss replace
    the drawn delay and loss, so pass the values the failing test printed.
    """
    plan = plan_for(opts.seed, delay_ms=opts.delay_ms, loss=opts.loss)
    try:
        result = run_transfer(plan, record=True)
        check(result)
    except IntegrityError as exc:
        raise IntegrityError(f"{exc}\n{plan.describe()}") from None
    return result.world

"""One connection (TCB) and its state machine, in the order of RFC 9293 section 3.10.

The connection never touches I/O: segments leave through ``host.emit``, time arrives as
the ``now`` argument, and its timers are deadlines that the host polls with ``deadline()``
and fires with ``on_timer(now)``. Read it beside RFC 9293 section 3.10.7: each step of
segment arrival is a method named after the step.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import os
from typing import TYPE_CHECKING, ClassVar, Protocol

from synack.tcp import seq as sq
from synack.tcp.config import MILLISECOND, SECOND, TcpConfig
from synack.tcp.congestion import new_congestion_control
from synack.tcp.events import (
    DELAYED_ACK,
    FIN_WAIT_2,
    KEEPALIVE,
    PERSIST,
    RETRANSMISSION,
    TIME_WAIT,
    ConnKey,
    Metrics,
    RttSample,
    StateChange,
    TimerFired,
    TimerSet,
    TimerStopped,
    Tracer,
)
from synack.tcp.rto import RtoEstimator
from synack.tcp.scoreboard import DUP_THRESH, Scoreboard
from synack.tcp.state import CAN_RECEIVE, CAN_SEND, SYNCHRONIZED, State
from synack.wire.tcp import (
    ACK,
    CWR,
    ECE,
    FIN,
    MSS,
    NOP,
    PSH,
    RST,
    SACK_PERMITTED,
    SYN,
    TIMESTAMP,
    URG,
    WSCALE,
    TcpOptions,
    TcpSegment,
)

if TYPE_CHECKING:
    from collections.abc import Callable

#: Window scale shifts above this are clamped (RFC 7323 section 2.3).
MAX_WSCALE = 14
#: Largest number of out-of-order segments kept; beyond it new ones are dropped.
MAX_OOO_SEGMENTS = 256
#: ...or one per this many bytes of receive buffer, if that allows more.
OOO_BYTES_PER_SEGMENT = 512
#: Largest advertised window before scaling.
MAX_WINDOW = 0xFFFF
#: SACK blocks that fit in the 40 bytes of options, beside a timestamp and without one.
MAX_SACK_BLOCKS_WITH_TS = 3
MAX_SACK_BLOCKS = 4
#: Out-of-order arrivals remembered to order SACK blocks by recency.
MAX_SACK_RECENT = 8


class _NothingHeld(dict[int, tuple[bytes, bool]]):
    """The out-of-order table every connection starts with, shared until a segment
    arrives out of order (an idle connection then holds no table of its own). Reads and
    the no-op pop and clear of an empty dict work; a write is a bug and fails loudly."""

    def __setitem__(self, key: int, value: tuple[bytes, bool]) -> None:
        raise TypeError("the shared empty out-of-order table is read-only")

    def __reduce__(self) -> str:
        return "NOTHING_HELD"  # copies and pickles of a connection share it too


NOTHING_HELD = _NothingHeld()


@functools.cache
def _microseconds(seconds: int) -> int:
    """One int object per distinct setting (large ints cost 32 bytes a connection)."""
    return seconds * SECOND


#: Out-of-order queues longer than this are not scanned whole for each ACK's SACK blocks.
SACK_SCAN_LIMIT = 32
#: RFC 7323 section 5.5: after this long without a segment TS.Recent is stale (24 days).
PAWS_IDLE_US = 24 * 24 * 3600 * SECOND


def freebsd_syn_layout(options: TcpOptions) -> tuple[int, ...]:
    """The option layout FreeBSD's tcp_addoptions gives a SYN carrying these options.

    Each option is aligned as FreeBSD aligns it, so any subset lines up as a FreeBSD peer
    sends it (the encoder then EOL-pads to 4 bytes): WSCALE at an odd offset,
    SACK_PERMITTED at an even one, TIMESTAMP at 2 mod 4.
    """
    layout: list[int] = []
    length = 0

    def pad_until(aligned: Callable[[int], bool]) -> None:
        nonlocal length
        while not aligned(length):
            layout.append(NOP)
            length += 1

    if options.mss is not None:
        layout.append(MSS)
        length += 4
    if options.wscale is not None:
        pad_until(lambda n: n % 2 == 1)
        layout.append(WSCALE)
        length += 3
    if options.sack_permitted:
        pad_until(lambda n: n % 2 == 0)
        layout.append(SACK_PERMITTED)
        length += 2
    if options.timestamp is not None:
        pad_until(lambda n: n % 4 == 2)
        layout.append(TIMESTAMP)
        length += 10
    return tuple(layout)


#: States in which send() may queue data (before the handshake ends it waits its turn).
_QUEUE_STATES = CAN_SEND | {State.SYN_SENT, State.SYN_RCVD}
# A member read through its Enum class costs about 0.1 us in CPython 3.11, several times a
# module global: the per-segment paths compare the state with these instead.
_ESTABLISHED = State.ESTABLISHED
_CLOSED = State.CLOSED
_TIME_WAIT = State.TIME_WAIT
#: Where each timer's last traced deadline sits in `TraceMarks.deadlines`.
_TIMER_INDEX = {
    RETRANSMISSION: 0,
    DELAYED_ACK: 1,
    PERSIST: 2,
    KEEPALIVE: 3,
    TIME_WAIT: 4,
    FIN_WAIT_2: 4,
}


_TIMERS_OFF: tuple[int | None, ...] = (None,) * 5
#: cwnd, ssthresh, rto, srtt, rttvar, snd_una, snd_nxt, snd_wnd, rcv_wnd, inflight.
_MetricValues = tuple[int, int, int, int | None, int | None, int, int, int, int, int]


class TraceMarks:
    """What was last traced for a connection, so only changes are traced again."""

    __slots__ = ("deadlines", "metrics", "state_timer")

    def __init__(self) -> None:
        #: rtx, delayed ACK, persist, keepalive, TIME-WAIT/FIN-WAIT-2 (None when off).
        self.deadlines = _TIMERS_OFF
        self.state_timer = TIME_WAIT  # which of the two the fifth deadline was
        self.metrics: _MetricValues | None = None


class ConnectionHost(Protocol):
    """What a connection needs from the stack that holds it."""

    tracer: Tracer | None
    now: int
    batching: bool

    @property
    def counters(self) -> dict[str, int]: ...

    def owe_ack(self, conn: Connection) -> None: ...

    def emit(self, conn: Connection, segment: TcpSegment, retransmission: bool) -> None: ...

    def emit_ts(
        self,
        conn: Connection,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        urgent: int,
        timestamp: tuple[int, int],
        payload: bytes,
        retransmission: bool,
    ) -> None:
        """`emit` of a segment whose only option is the timestamp, given by its fields."""

    def reschedule(self, conn: Connection) -> None: ...

    def isn_for(self, key: ConnKey) -> int: ...

    def release(self, conn: Connection) -> None: ...

    def time_wait_full(self) -> bool: ...


class ListenerHooks(Protocol):
    """What a passive-open child tells the listener that spawned it."""

    def accept_queue_full(self) -> bool: ...

    def child_established(self, conn: Connection) -> None: ...

    def child_failed(self, conn: Connection) -> None: ...


#: The longest the sender waits before sending less than sender SWS avoidance wants.
SWS_OVERRIDE_MAX_US = 1_000_000


def window_scale_for(config: TcpConfig) -> int:
    """The shift we announce: the configured one, or the least that covers rmem."""
    if config.wscale is not None:
        return config.wscale
    return least_window_scale(config.rmem)


def least_window_scale(size: int) -> int:
    """The least shift that lets a 16-bit window field cover ``size`` bytes."""
    shift = 0
    while (size >> shift) > MAX_WINDOW and shift < MAX_WSCALE:
        shift += 1
    return shift


def _os_error(code: int) -> OSError:
    """The exception the standard socket module would raise for errno ``code``."""
    message = os.strerror(code)
    classes: dict[int, type[OSError]] = {
        errno.ECONNREFUSED: ConnectionRefusedError,
        errno.ECONNRESET: ConnectionResetError,
        errno.ETIMEDOUT: TimeoutError,
        errno.EPIPE: BrokenPipeError,
        errno.ECONNABORTED: ConnectionAbortedError,
    }
    return classes.get(code, OSError)(code, message)


class Connection:
    """A transmission control block.

    Variables carry their RFC 9293 names in lower case (``snd_una``, ``rcv_nxt``...).
    ``snd_max`` is the highest sequence number sent so far: after a timeout ``snd_nxt``
    goes back to ``snd_una`` and ACKs up to ``snd_max`` are still acceptable.
    """

    #: Take the fast path for common segments; tests turn it off to compare both paths.
    header_prediction: ClassVar[bool] = True

    __slots__ = (
        "__weakref__",  # the TIME-WAIT table follows a connection a user still holds
        "_ack_now",
        "_delack_pending",
        "_fin_acked",
        "_quickacks",
        "ack_owed",
        "cc",
        "challenge_count",
        "challenge_since",
        "config",
        "delack_at",
        "dupacks",
        "ecn_cwr_due",
        "ecn_echo",
        "ecn_ok",
        "ecn_recover",
        "error",
        "fin_queued",
        "heap_at",
        "high_rxt",
        "host",
        "idle_at",
        "idle_seen",
        "idle_timeout_us",
        "in_recovery",
        "irs",
        "iss",
        "keep_at",
        "keepalive",
        "keepcnt",
        "keepidle_us",
        "keepintvl_us",
        "key",
        "last_recv_us",
        "last_send_us",
        "linger",
        "linger2_us",
        "listener",
        "max_snd_wnd",
        "nodelay",
        "noopt",
        "now",
        "ooo",
        "ooo_bytes",
        "orphaned",
        "our_mss",
        "passive",
        "peer_fin",
        "persist_at",
        "persist_backoff",
        "pmtu",
        "probes_out",
        "prr_delivered",
        "prr_out",
        "rcv_adv",
        "rcv_buf",
        "rcv_capacity",
        "rcv_nxt",
        "rcv_shut",
        "rcv_up",
        "rcv_wscale",
        "recover",
        "recover_fs",
        "retries",
        "reuseaddr",
        "rto",
        "rto_recovery",
        "rtt_seq",
        "rtt_start",
        "rtx_at",
        "sack_dup",
        "sack_negotiated",
        "sack_ok",
        "sack_recent",
        "sack_repair",
        "sack_spans",
        "scoreboard",
        "snd_buf",
        "snd_buf_seq",
        "snd_capacity",
        "snd_max",
        "snd_mss",
        "snd_nxt",
        "snd_una",
        "snd_wl1",
        "snd_wl2",
        "snd_wnd",
        "snd_wscale",
        "soft_error",
        "soft_error_una",
        "state",
        "state_at",
        "syn_text",
        "trace_marks",
        "ts_offset",
        "ts_ok",
        "ts_recent",
        "una_since",
        "urgent_mark",
        "user_timeout_us",
        "v6",
        "wake",
        "ws_ok",
    )

    def __init__(
        self,
        host: ConnectionHost,
        key: ConnKey,
        config: TcpConfig,
        iss: int,
        now: int,
        ts_offset: int = 0,
    ) -> None:
        self.host = host
        self.key = key
        self.config = config
        self.now = now
        self.v6 = len(key[0]) == 16
        #: The MSS we announce: the link MTU less the IP and TCP headers.
        self.our_mss = config.mtu - (60 if self.v6 else 40)
        self.state = State.CLOSED
        self.listener: ListenerHooks | None = None
        self.passive = False
        self.error: OSError | None = None
        self.wake: Callable[[], None] | None = None

        # Send sequence space.
        self.iss = iss
        self.snd_una = iss
        self.snd_nxt = iss
        self.snd_max = iss
        self.snd_wnd = 0
        self.max_snd_wnd = 0
        self.snd_wl1 = 0
        self.snd_wl2 = 0
        self.snd_buf = bytearray()
        self.snd_buf_seq = sq.add(iss, 1)  # sequence number of snd_buf[0]
        self.snd_capacity = config.wmem
        self.fin_queued = False
        self.snd_wscale = 0
        self.snd_mss = config.mss_default_v6 if self.v6 else config.mss_default_v4
        #: Path MTU (RFC 1191, RFC 8201): the link MTU until ICMP reports a smaller one.
        self.pmtu = config.mtu
        #: Errno of the last ICMP soft error, reported instead of ETIMEDOUT if the
        #: connection later gives up while SND.UNA is still where it was then.
        self.soft_error = 0
        self.soft_error_una = iss
        #: Text (or FIN) a SYN brought in SYN-SENT, processed once ESTABLISHED.
        self.syn_text: TcpSegment | None = None

        # Receive sequence space.
        self.irs = 0
        self.rcv_nxt = 0
        self.rcv_adv = 0  # right edge of the window we last advertised
        self.rcv_buf = bytearray()
        self.rcv_capacity = config.rmem
        self.rcv_up = 0
        self.urgent_mark: int | None = None
        self.ooo: dict[int, tuple[bytes, bool]] = NOTHING_HELD  # seq -> (data, FIN follows)
        self.ooo_bytes = 0  # payload bytes held in ooo
        self.peer_fin = False
        self.rcv_shut = False
        self.rcv_wscale = window_scale_for(config)

        # Negotiated options.
        self.ws_ok = False
        self.ts_ok = False
        self.ts_recent = 0
        self.sack_ok = False  # we send SACK blocks (RFC 2018)
        self.sack_dup: tuple[int, int] | None = None  # D-SACK to report (RFC 2883)
        #: Where the latest out-of-order segments start, newest first: SACK's block order.
        self.sack_recent: list[int] | tuple[()] = ()  # a list from the first SACK block
        #: The blocks last reported for a long queue, where the next report starts.
        self.sack_spans: tuple[tuple[int, int], ...] = ()
        #: Both SYNs carried SACK-permitted: the peer's SACK blocks steer our retransmissions.
        self.sack_negotiated = False
        self.ts_offset = ts_offset

        # Retransmission and congestion.
        self.rto = RtoEstimator(config.rto_initial_us, config.rto_min_us, config.rto_max_us)
        self.cc = new_congestion_control(config, self.snd_mss)
        self.rtt_seq: int | None = None
        self.rtt_start = 0
        self.retries = 0
        self.dupacks = 0
        self.in_recovery = False
        self.recover = iss
        self.una_since = now
        self.last_send_us = now  # when data last left: the idle restart measures from it
        self.challenge_since = 0  # when the current challenge-ACK rate window began
        self.challenge_count = 0  # challenge ACKs sent in it
        # SACK-based loss recovery (RFC 6675) and Proportional Rate Reduction (RFC 6937).
        self.scoreboard: Scoreboard | None = None
        self.sack_repair = False  # holes are being resent by NextSeg (fast or RTO recovery)
        self.rto_recovery = False  # after a timeout: every unSACKed byte below recover is lost
        self.high_rxt = iss  # one past the highest byte retransmitted in this recovery
        self.prr_delivered = 0
        self.prr_out = 0  # bytes retransmitted in recovery (new data: snd_max - recover)
        self.recover_fs = 0

        # ACK policy.
        self._ack_now = False
        self._delack_pending = 0
        self.ack_owed = False  # a delayed ACK left for the end of the host's receive batch
        self._quickacks = config.quickacks
        self._fin_acked = False

        # Timers (absolute microseconds, None when off).
        self.rtx_at: int | None = None
        self.delack_at: int | None = None
        self.keep_at: int | None = None
        self.state_at: int | None = None  # TIME-WAIT or orphaned FIN-WAIT-2
        self.persist_at: int | None = None
        self.persist_backoff = 0

        # Socket options.
        self.keepalive = False
        self.keepidle_us = _microseconds(config.keepalive_time)
        self.keepintvl_us = _microseconds(config.keepalive_intvl)
        self.keepcnt = config.keepalive_probes
        self.probes_out = 0
        self.user_timeout_us = 0
        self.nodelay = False
        self.linger: int | None = None
        self.linger2_us: int | None = None  # TCP_LINGER2; None: the fin_timeout sysctl
        self.reuseaddr = False
        self.orphaned = False
        self.last_recv_us = now
        self.heap_at: int | None = None  # deadline of this connection's entry in the host heap
        #: Idle timeout (TCP_IDLE_TIMEOUT): closed after this long without data; 0 is off.
        self.idle_timeout_us = 0
        self.idle_at: int | None = None
        self.idle_seen = 0  # RCV.NXT and SND.MAX when the idle timer was armed
        self.trace_marks: TraceMarks | None = None  # only used while a tracer is attached
        self.noopt = False  # TCP_NOOPT (FreeBSD): no options in our SYN or SYN,ACK

        # ECN (RFC 3168), once both SYNs agreed on it.
        self.ecn_ok = False
        self.ecn_echo = False  # a CE mark arrived: ECE on our ACKs until the peer's CWR
        self.ecn_cwr_due = False  # we reduced cwnd: CWR on the next new data segment
        self.ecn_recover: int | None = None  # SND.MAX at that reduction: one per window

    # ------------------------------------------------------------------ helpers

    def __repr__(self) -> str:
        return f"<Connection {self.state} iss={self.iss} snd_una={self.snd_una}>"

    @property
    def closed(self) -> bool:
        return self.state is State.CLOSED

    def _set_state(self, new: State, reason: str) -> None:
        old = self.state
        if old is new:
            return
        self.state = new
        if new is State.ESTABLISHED and self.config.rcvbuf_round_to_mss:
            self._round_rcv_capacity()
        counters = self.host.counters
        if new is State.SYN_SENT and old is State.CLOSED:
            counters["TcpActiveOpens"] += 1
        elif new is State.SYN_RCVD and old in (State.LISTEN, State.TIME_WAIT):
            counters["TcpPassiveOpens"] += 1
        elif new in (State.CLOSED, State.LISTEN) and old in (State.SYN_SENT, State.SYN_RCVD):
            counters["TcpAttemptFails"] += 1
        elif (
            new is State.CLOSED
            and old in (State.ESTABLISHED, State.CLOSE_WAIT)
            and reason.startswith(("reset", "abort", "timeout"))
        ):
            counters["TcpEstabResets"] += 1
        tracer = self.host.tracer
        if tracer is not None:
            tracer(StateChange(self.now, self.key, old, new, reason))
        if new is State.CLOSED or (new is State.LISTEN and self.listener is not None):
            self._stop_timers()
            self.host.release(self)
        elif new is State.LISTEN and old is not State.CLOSED:
            self._forget_peer()
        self._notify()

    def _round_rcv_capacity(self) -> None:
        """Round the receive buffer up to whole segments, as FreeBSD's tcp_mss does.

        FreeBSD's segment size here excludes the timestamp option, so it is added back.
        """
        mss = self.snd_mss + (12 if self.ts_ok else 0)
        if self.rcv_capacity >= mss:
            self.rcv_capacity = -(-self.rcv_capacity // mss) * mss

    def _forget_peer(self) -> None:
        """Back to LISTEN on an RFC-style passive open: a fresh TCB, ready for a new SYN."""
        keep = (self.wake, self.keepalive, self.nodelay, self.linger, self.reuseaddr)
        marks = self.trace_marks
        self.__init__(  # type: ignore[misc]  # re-running __init__ resets every variable
            self.host,
            self.key,
            self.config,
            self.host.isn_for(self.key),
            self.now,
            self.ts_offset,
        )
        self.state = State.LISTEN
        self.wake, self.keepalive, self.nodelay, self.linger, self.reuseaddr = keep
        self.trace_marks = marks

    def _notify(self) -> None:
        if self.wake is not None:
            self.wake()

    def _stop_timers(self) -> None:
        self.rtx_at = self.delack_at = self.keep_at = self.state_at = self.persist_at = None
        self.idle_at = None

    def time_wait_over(self) -> None:
        """The stack's TIME-WAIT entry that took this connection over has ended (and
        traced it): the user's socket reads CLOSED from now on."""
        self.state = State.CLOSED
        self.state_at = None
        self._notify()

    def _fail(self, code: int, reason: str) -> None:
        """End the connection with an error the user will see."""
        if code == errno.ETIMEDOUT and self.soft_error and self.snd_una == self.soft_error_una:
            code = self.soft_error  # Linux tcp_write_err: sk_err_soft ?: ETIMEDOUT
        self.error = _os_error(code)
        if self.listener is not None and self.passive and self.state is State.SYN_RCVD:
            self.listener.child_failed(self)
        self._set_state(State.CLOSED, reason)

    @property
    def fin_seq(self) -> int:
        """Sequence number our FIN takes (meaningful once fin_queued)."""
        return sq.add(self.snd_buf_seq, len(self.snd_buf))

    @property
    def fin_acked(self) -> bool:
        return self.fin_queued and self.snd_una == sq.add(self.fin_seq, 1)

    @property
    def rcv_wnd(self) -> int:
        """Free receive space, never shrinking the edge we already advertised.

        Receiver silly-window avoidance (RFC 9293 3.8.6.2.2): less free space than
        min(half the buffer, one MSS) is offered as none.
        """
        capacity = self.rcv_capacity
        free = capacity - len(self.rcv_buf)
        if free < self.our_mss and free < capacity >> 1:
            free = 0
        # rcv_wnd_sent, inline: this runs for every segment sent and every one received.
        advertised = (self.rcv_adv - self.rcv_nxt) & sq.MASK
        if advertised >= sq.HALF:
            return free
        return free if free > advertised else advertised

    @property
    def rcv_wnd_sent(self) -> int:
        """The window the peer was last told of (the buffer may have more room)."""
        advertised = (self.rcv_adv - self.rcv_nxt) & sq.MASK
        return 0 if advertised >= sq.HALF else advertised  # behind RCV.NXT: nothing promised

    def _window_field(self, syn: bool) -> int:
        # rcv_wnd, inline (once per segment sent).
        capacity = self.rcv_capacity
        wnd = capacity - len(self.rcv_buf)
        if wnd < self.our_mss and wnd < capacity >> 1:
            wnd = 0
        nxt = self.rcv_nxt
        adv = self.rcv_adv
        advertised = (adv - nxt) & sq.MASK
        if wnd < advertised < sq.HALF:
            wnd = advertised
        shift = 0 if syn or not self.ws_ok else self.rcv_wscale
        field = wnd >> shift
        if field > MAX_WINDOW:
            field = MAX_WINDOW
        edge = (nxt + (field << shift)) & sq.MASK
        if 0 < (edge - adv) & sq.MASK < sq.HALF:  # sq.gt(edge, rcv_adv)
            self.rcv_adv = edge
        return field

    def _ts_now(self) -> int:
        return (self.now // MILLISECOND + self.ts_offset) & sq.MASK

    def _options(self) -> TcpOptions | None:
        blocks = self._sack_blocks() if self.sack_ok and self.ooo else ()
        if self.sack_dup is not None:
            # RFC 2883: the duplicate first, once; then the blocks as usual.
            room = MAX_SACK_BLOCKS_WITH_TS if self.ts_ok else MAX_SACK_BLOCKS
            blocks = (self.sack_dup, *blocks[: room - 1])
            self.sack_dup = None
        if self.ts_ok:
            ts_now = (self.now // MILLISECOND + self.ts_offset) & sq.MASK  # _ts_now()
            return TcpOptions(None, None, False, blocks, (ts_now, self.ts_recent))
        if blocks:
            return TcpOptions(sack_blocks=blocks)
        return None

    def _sack_blocks(self) -> tuple[tuple[int, int], ...]:
        """RFC 2018 section 4: the block holding the latest out-of-order segment first,
        then the blocks holding the ones before it, as many as fit beside the options."""
        if len(self.ooo) > SACK_SCAN_LIMIT:
            return self._sack_blocks_walked()
        nxt = self.rcv_nxt
        spans: list[tuple[int, int]] = []  # offsets from RCV.NXT, merged
        for start, (data, _fin) in sorted(
            self.ooo.items(), key=lambda item: (item[0] - nxt) & sq.MASK
        ):
            low = (start - nxt) & sq.MASK
            if low >= sq.HALF:
                continue  # below RCV.NXT: delivered already
            high = low + len(data)
            if spans and low <= spans[-1][1]:
                if high > spans[-1][1]:
                    spans[-1] = (spans[-1][0], high)
            else:
                spans.append((low, high))
        room = MAX_SACK_BLOCKS_WITH_TS if self.ts_ok else MAX_SACK_BLOCKS
        chosen: list[tuple[int, int]] = []
        for probe in self.sack_recent:
            at = (probe - nxt) & sq.MASK
            for span in spans:
                if span[0] <= at < span[1]:
                    if span not in chosen:
                        chosen.append(span)
                    break
            if len(chosen) == room:
                break
        return tuple((sq.add(nxt, low), sq.add(nxt, high)) for low, high in chosen)

    def _sack_blocks_walked(self) -> tuple[tuple[int, int], ...]:
        """``_sack_blocks`` for a long out-of-order queue, in time proportional to the
        growth of the blocks rather than to the queue.

        Each block starts from the block last reported around its segment (still held:
        data leaves the queue only by reaching RCV.NXT, which takes a whole block), then
        grows through exactly adjacent segments: upwards through any, downwards through
        those of the segment's own size. Other shapes are not followed, so a block may be
        reported shorter than held, never longer: under-reporting costs the sender at
        most a needless retransmission.
        """
        ooo = self.ooo
        nxt = self.rcv_nxt
        known = [
            (lo, lo + ((hi - lo) & sq.MASK))
            for lo, hi in (
                (((a - nxt) & sq.MASK), ((b - nxt) & sq.MASK)) for a, b in self.sack_spans
            )
            if 0 < lo < sq.HALF
        ]
        room = MAX_SACK_BLOCKS_WITH_TS if self.ts_ok else MAX_SACK_BLOCKS
        chosen: list[tuple[int, int]] = []  # offsets from RCV.NXT
        for probe in self.sack_recent:
            at = (probe - nxt) & sq.MASK
            entry = ooo.get(probe)
            if entry is None or at >= sq.HALF or any(lo <= at < hi for lo, hi in chosen):
                continue
            size = len(entry[0])
            low, high = at, at + size
            for lo, hi in known:
                if lo <= at <= hi or high == lo:
                    low, high = min(lo, low), max(hi, high)
                    break
            # Down through segments of the probe's size (a sender's segments mostly are).
            while low > size and (before := ooo.get(sq.add(nxt, low - size))) is not None:
                if len(before[0]) != size:
                    break
                low -= size
            while (after := ooo.get(sq.add(nxt, high))) is not None and after[0]:
                high += len(after[0])
                if high >= sq.HALF:
                    break
            chosen.append((low, high))
            if len(chosen) == room:
                break
        self.sack_spans = tuple((sq.add(nxt, low), sq.add(nxt, high)) for low, high in chosen)
        return self.sack_spans

    def _syn_options(self, reply_to: TcpOptions | None) -> TcpOptions:
        cfg = self.config
        opts = TcpOptions(mss=self.our_mss)
        peer = reply_to
        if cfg.window_scaling and (peer is None or peer.wscale is not None):
            opts.wscale = self.rcv_wscale
        if cfg.sack and (peer is None or peer.sack_permitted):
            opts.sack_permitted = True
        if cfg.timestamps and (peer is None or peer.timestamp is not None):
            opts.timestamp = (self._ts_now(), peer.timestamp[0] if peer and peer.timestamp else 0)
        if cfg.syn_option_layout == "freebsd":
            opts.layout = freebsd_syn_layout(opts)
        return opts

    def _send(
        self,
        seq: int,
        flags: int,
        payload: bytes = b"",
        retransmission: bool = False,
        options: TcpOptions | None = None,
        urgent: int = 0,
    ) -> None:
        syn = flags & SYN
        if self.ecn_ok and not flags & (SYN | RST):
            flags = self._ecn_flags(flags, payload, retransmission)
        if options is None and not syn:
            if self.ts_ok and self.sack_dup is None and not (self.sack_ok and self.ooo):
                # What _options() gives here is the timestamp alone: the segment of a
                # transfer, sent from its fields without TcpOptions and TcpSegment objects.
                ts = ((self.now // MILLISECOND + self.ts_offset) & sq.MASK, self.ts_recent)
                ack = self.rcv_nxt if flags & ACK else 0
                window = self._window_field(False) if not flags & RST else 0
                if flags & ACK:
                    self._ack_sent()
                if retransmission:
                    self.host.counters["TcpRetransSegs"] += 1
                self.host.emit_ts(
                    self, seq, ack, flags, window, urgent, ts, payload, retransmission
                )
                return
            options = self._options()
        key = self.key
        segment = TcpSegment(
            key[1],
            key[3],
            seq,
            self.rcv_nxt if flags & ACK else 0,
            flags,
            self._window_field(bool(syn)) if not flags & RST else 0,
            urgent,
            options,
            payload,
        )
        if flags & ACK:
            self._ack_sent()
        if retransmission:
            self.host.counters["TcpRetransSegs"] += 1
        self.host.emit(self, segment, retransmission)

    def _ack_sent(self) -> None:
        """A segment carrying RCV.NXT went out: no ACK is owed or waiting any more."""
        self._ack_now = False
        self._delack_pending = 0
        self.delack_at = None
        self.ack_owed = False

    def _ecn_flags(self, flags: int, payload: bytes, retransmission: bool) -> int:
        """ECE on every ACK while a CE mark waits for the peer's CWR (RFC 3168 6.1.3), and
        CWR on the first new data after a reduction (6.1.2); never on a retransmission."""
        if self.ecn_echo and flags & ACK:
            flags |= ECE
        if self.ecn_cwr_due and payload and not retransmission:
            flags |= CWR
            self.ecn_cwr_due = False
        return flags

    def ecn_arrives(self, flags: int, ce: bool) -> None:
        """The IP ECN field of a segment about to arrive (the stack reads the IP header).

        A CWR ends the echo the peer answered; a CE mark (in the same segment too) starts
        one, and is acknowledged at once so that the sender learns of it within an RTT.
        """
        if flags & CWR:
            self.ecn_echo = False
        if ce:
            self.host.counters["SynackEcnCeReceived"] += 1
            if not self.ecn_echo:
                self.ecn_echo = True
                self._ack_now = True

    def _ecn_echoed(self) -> None:
        """An ACK with ECE: reduce cwnd as for a loss, at most once per window of data and
        not while loss recovery has already reduced it (RFC 3168 6.1.2)."""
        if self.in_recovery or self.sack_repair:
            return
        if self.ecn_recover is not None and sq.lt(self.snd_una, self.ecn_recover):
            return
        flight = sq.diff(self.snd_max, self.snd_una)
        if flight <= 0:
            return
        self.cc.on_ecn_echo(flight, self.now)
        self.ecn_recover = self.snd_max
        self.ecn_cwr_due = True
        self.host.counters["SynackEcnReductions"] += 1

    def pay_owed_ack(self) -> None:
        """The end of a receive batch: send the ACK deferred to it, unless data took it."""
        if self.ack_owed and self.state is not State.CLOSED:
            self.now = self.host.now
            self.send_ack()
            self.host.reschedule(self)

    def send_ack(self) -> None:
        # SND.MAX, not SND.NXT: after a timeout SND.NXT goes back to resend, but the peer
        # may hold everything up to SND.MAX already, and an ACK whose sequence number lies
        # below its RCV.NXT is unacceptable and dropped unread (RFC 9293 3.10.7.4). RFC
        # 9293's own SND.NXT never goes back; BSD's tcp_output uses snd_max here too.
        if self.config.repeat_fin and self.fin_queued and self.snd_una != self.snd_max:
            fin = self.fin_seq
            if sq.add(fin, 1) == self.snd_max:
                self._send(fin, FIN | ACK)  # BSD's tcp_output backs SND.NXT onto the FIN
                return
        self._send(self.snd_max, ACK)

    def _send_rst(self) -> None:
        flags = RST | ACK if self.config.rst_ack_on_abort else RST
        self._send(self.snd_max, flags, options=None)  # the peer may hold all we sent

    def _start_rtx(self) -> None:
        if self.rtx_at is None:
            self._restart_rtx()

    def _restart_rtx(self) -> None:
        deadline = self.now + self.rto.rto
        if self.user_timeout_us:
            # Fire no later than the user timeout, so it is honoured to the microsecond.
            deadline = min(deadline, max(self.una_since + self.user_timeout_us, self.now + 1))
        self.rtx_at = deadline

    def _finish(self) -> None:
        """End of every entry point: send what is due, then re-arm the host's heap entry."""
        if self.state is not _CLOSED:
            self._output()
            if self._ack_now:
                self.send_ack()
        self.host.reschedule(self)

    # ------------------------------------------------------------------ user calls

    def open_active(self) -> None:
        """OPEN (active): send SYN (CLOSED or LISTEN -> SYN_SENT)."""
        self.now = self.host.now
        if self.state not in (State.CLOSED, State.LISTEN):
            raise OSError(errno.EISCONN, os.strerror(errno.EISCONN))
        self.passive = False
        self._set_state(State.SYN_SENT, "connect")
        self._send_syn(retransmission=False)
        self.snd_nxt = self.snd_max = sq.add(self.iss, 1)
        self.rtt_seq, self.rtt_start = self.iss, self.now
        self._start_rtx()
        self.host.reschedule(self)

    def open_passive(self) -> None:
        """OPEN (passive) on a fully specified socket: CLOSED -> LISTEN (RFC 9293 model)."""
        if self.state is not State.CLOSED:
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        self._set_state(State.LISTEN, "listen")

    def _send_syn(self, retransmission: bool) -> None:
        flags = SYN
        if self.config.ecn == 1 and self.retries <= self.config.ecn_syn_retries:
            flags |= ECE | CWR  # RFC 3168 6.1.1: an ECN-setup SYN
        options = None if self.noopt else self._syn_options(None)
        self._send(self.iss, flags, options=options, retransmission=retransmission)

    def _send_synack(self, retransmission: bool, reply_to: TcpOptions | None) -> None:
        opts = self._syn_options(reply_to)
        if reply_to is None:
            # Retransmission: keep what was negotiated.
            if not self.ws_ok:
                opts.wscale = None
            if not self.ts_ok:
                opts.timestamp = None
            elif opts.timestamp is not None:
                opts.timestamp = (self._ts_now(), self.ts_recent)
            if opts.layout:
                opts.layout = freebsd_syn_layout(opts)
        flags = SYN | ACK | (ECE if self.ecn_ok else 0)  # an ECN-setup SYN,ACK
        self._send(
            self.iss, flags, options=None if self.noopt else opts, retransmission=retransmission
        )

    def send(self, data: bytes | bytearray | memoryview) -> int:
        """SEND: queue as much of ``data`` as the send buffer takes; returns the count.

        In LISTEN with a known peer this turns the connection into an active open
        (RFC 9293 LISTEN -> SYN_SENT), queueing the data behind the SYN.
        """
        self.now = self.host.now
        self._raise_pending()
        state = self.state
        if state is State.LISTEN:
            self.open_active()
        elif self.fin_queued or state not in _QUEUE_STATES:
            raise _os_error(errno.EPIPE)
        room = self.snd_capacity - len(self.snd_buf)
        if room <= 0:
            return 0
        taken = min(room, len(data))
        self.snd_buf += data[:taken]
        if self.state in SYNCHRONIZED:
            self._finish()
        return taken

    def send_space(self) -> int:
        space = self.snd_capacity - len(self.snd_buf)  # max() written out: polled often
        return space if space > 0 else 0

    def recv(self, max_bytes: int) -> bytes:
        """RECEIVE: up to ``max_bytes`` in-order bytes; b"" at end of stream."""
        self.now = self.host.now
        if max_bytes < 0:
            raise ValueError("negative buffersize in recv")
        if not self.rcv_buf:
            self._raise_pending()
            return b""
        before = self.rcv_wnd
        if max_bytes >= len(self.rcv_buf):
            out = bytes(self.rcv_buf)
            self.rcv_buf.clear()
        else:
            out = bytes(memoryview(self.rcv_buf)[:max_bytes])
            del self.rcv_buf[:max_bytes]
        self._window_opened(before)
        return out

    def peek(self, max_bytes: int) -> bytes:
        """RECEIVE that leaves the bytes in place (MSG_PEEK): the window stays as it is."""
        self.now = self.host.now
        if max_bytes < 0:
            raise ValueError("negative buffersize in recv")
        if not self.rcv_buf:
            self._raise_pending()
            return b""
        return bytes(memoryview(self.rcv_buf)[:max_bytes])

    def readable_bytes(self) -> int:
        return len(self.rcv_buf)

    @property
    def at_eof(self) -> bool:
        """No more data will arrive: the peer's FIN was received or the connection ended."""
        return self.peer_fin or self.state is _CLOSED

    def _window_opened(self, before: int) -> None:
        """Send a window update when reading opened the window enough (receiver SWS rule)."""
        if self.state not in CAN_RECEIVE:
            return
        after = self.rcv_wnd
        threshold = min(self.rcv_capacity // 2, 2 * self.our_mss)
        if after - before >= threshold or (before < self.our_mss <= after):
            self._ack_now = True
            self._finish()

    def _raise_pending(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            raise error

    def shutdown_write(self) -> None:
        """shutdown(SHUT_WR): send FIN once queued data is out; reading goes on."""
        self.now = self.host.now
        state = self.state
        if state in (State.SYN_SENT, State.LISTEN):
            self._set_state(State.CLOSED, "close")
            return
        if state is State.CLOSED:
            raise OSError(errno.ENOTCONN, os.strerror(errno.ENOTCONN))
        if self.fin_queued:
            return
        self.fin_queued = True
        if state in (State.ESTABLISHED, State.SYN_RCVD):
            self._set_state(State.FIN_WAIT_1, "close")
        elif state is State.CLOSE_WAIT:
            self._set_state(State.LAST_ACK, "close")
        self._finish()

    def shutdown_read(self) -> None:
        self.rcv_shut = True

    def close(self) -> None:
        """close(): the socket is gone; the connection finishes on its own (an orphan).

        As on Linux, unread received data or SO_LINGER {1, 0} turn the close into an
        abort (RST, no TIME-WAIT).
        """
        self.now = self.host.now
        if self.state is State.CLOSED:
            return
        if self.state in SYNCHRONIZED and (self.rcv_buf or self.linger == 0):
            counter = "TcpExtTCPAbortOnLinger" if self.linger == 0 else "TcpExtTCPAbortOnClose"
            self.host.counters[counter] += 1
            self.abort()
            return
        self.orphaned = True
        self.rcv_shut = True
        self.shutdown_write()
        if self.state is State.FIN_WAIT_2:
            self._arm_fin_wait_2()
            self.host.reschedule(self)

    def abort(self) -> None:
        """ABORT: RST to the peer in synchronized states, then CLOSED without TIME-WAIT."""
        self.now = self.host.now
        if (self.state in SYNCHRONIZED and self.state is not State.TIME_WAIT) or (
            self.state is State.SYN_RCVD
        ):
            self._send_rst()
        if self.state is not State.CLOSED:
            self._set_state(State.CLOSED, "abort")
            self.host.reschedule(self)

    def set_rcvbuf(self, size: int) -> None:
        """SO_RCVBUF. Set before the SYN goes out, it also sets the window scale we offer
        where Linux does (rcvbuf_sets_wscale): the least shift that fits the buffer,
        for the user has fixed the buffer, so the window will never outgrow it."""
        self.rcv_capacity = size
        if self.config.rcvbuf_sets_wscale and self.state in (State.CLOSED, State.LISTEN):
            self.rcv_wscale = least_window_scale(size)

    def set_user_mss(self, user_mss: int) -> None:
        """TCP_MAXSEG: announce, and so receive, segments no larger than ``user_mss``
        (0 lifts the limit). The send MSS follows, being the lesser of both sides'."""
        derived = self.config.mtu - (60 if self.v6 else 40)
        self.our_mss = min(derived, user_mss) if user_mss else derived

    def discard(self) -> None:
        """CLOSED without a word to the peer: a half-open connection whose listener went
        away is forgotten, as Linux forgets its request sockets; a later segment from the
        peer then meets no connection and draws the usual RST."""
        self.now = self.host.now
        if self.state is not State.CLOSED:
            self._set_state(State.CLOSED, "discard")
            self.host.reschedule(self)

    def set_keepalive(
        self,
        enabled: bool,
        idle_s: int | None = None,
        interval_s: int | None = None,
        count: int | None = None,
    ) -> None:
        self.now = self.host.now
        if idle_s is not None:
            self.keepidle_us = idle_s * SECOND
        if interval_s is not None:
            self.keepintvl_us = interval_s * SECOND
        if count is not None:
            self.keepcnt = count
        self.keepalive = enabled
        self._arm_keepalive()
        self.host.reschedule(self)

    def _arm_keepalive(self) -> None:
        if self.keepalive and self.state in SYNCHRONIZED and self.state is not State.TIME_WAIT:
            self.keep_at = self.last_recv_us + self.keepidle_us
        else:
            self.keep_at = None

    def set_idle_timeout(self, seconds: float) -> None:
        """Close the connection (FIN, as close() would) once no data has moved either way
        for ``seconds``; 0 turns it off. A server's defence against peers that connect
        and then say nothing (S20). Checked once per timeout: a connection is closed after
        between one and two timeouts of silence."""
        self.now = self.host.now
        self.idle_timeout_us = int(seconds * SECOND)
        self.idle_seen = self.rcv_nxt | self.snd_max << 32
        self.idle_at = self.now + self.idle_timeout_us if self.idle_timeout_us > 0 else None
        self.host.reschedule(self)

    def _on_idle_timer(self) -> None:
        state = self.state
        if state in (State.SYN_SENT, State.SYN_RCVD):
            self.idle_at = self.now + self.idle_timeout_us  # not open yet: nothing to judge
            return
        if state not in (State.ESTABLISHED, State.CLOSE_WAIT) or self.fin_queued:
            return  # closing already: FIN-WAIT-2 reaping and TIME-WAIT take it from here
        seen = self.rcv_nxt | self.snd_max << 32
        if seen != self.idle_seen:  # data moved since the timer was armed
            self.idle_seen = seen
            self.idle_at = self.now + self.idle_timeout_us
            return
        self.host.counters["SynackIdleTimeouts"] += 1
        self.close()

    def _arm_fin_wait_2(self) -> None:
        linger2 = self.linger2_us
        self.state_at = self.now + (
            self.config.fin_timeout * SECOND if linger2 is None else linger2
        )

    # ------------------------------------------------------------------ timers

    def deadline(self) -> int | None:
        best = self.rtx_at  # unrolled: the host asks after every segment
        t = self.delack_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.keep_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.state_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.persist_at
        if t is not None and (best is None or t < best):
            best = t
        t = self.idle_at
        if t is not None and (best is None or t < best):
            best = t
        return best

    def on_timer(self, now: int) -> None:
        """Fire every timer that is due at ``now``."""
        self.now = now
        if self.state_at is not None and self.state_at <= now:
            self.state_at = None
            self._trace_timer(TIME_WAIT if self.state is State.TIME_WAIT else FIN_WAIT_2)
            if self.state is State.TIME_WAIT:
                self.host.counters["TcpExtTW"] += 1
            self._set_state(State.CLOSED, "timeout")
            self.host.reschedule(self)
            return
        if self.rtx_at is not None and self.rtx_at <= now:
            self.rtx_at = None
            self._trace_timer(RETRANSMISSION)
            self._on_rtx_timeout()
        if self.state is State.CLOSED:
            self.host.reschedule(self)
            return
        if self.persist_at is not None and self.persist_at <= now:
            self.persist_at = None
            self._trace_timer(PERSIST)
            self._on_persist()
        if self.keep_at is not None and self.keep_at <= now:
            self.keep_at = None
            self._trace_timer(KEEPALIVE)
            self._on_keepalive()
        if self.idle_at is not None and self.idle_at <= now:
            self.idle_at = None
            self._on_idle_timer()
        if self.closed:  # a keepalive may have given up
            self.host.reschedule(self)
            return
        if self.delack_at is not None and self.delack_at <= now:
            self.delack_at = None
            self._trace_timer(DELAYED_ACK)
            self.host.counters["TcpExtDelayedACKs"] += 1
            self._ack_now = True
        self._finish()

    def _trace_timer(self, name: str) -> None:
        tracer = self.host.tracer
        if tracer is not None:
            tracer(TimerFired(self.now, self.key, name))
            marks = self.trace_marks
            if marks is not None:  # fired, so no "stop" follows
                deadlines = list(marks.deadlines)
                deadlines[_TIMER_INDEX[name]] = None
                marks.deadlines = tuple(deadlines)

    def trace_changes(self, tracer: Tracer) -> None:
        """Trace every timer set or stopped, and the metrics if any moved, since last time.

        The stack calls this after each piece of processing while a tracer is attached, so
        a change made and undone within one step (a delayed ACK armed, then sent at once)
        leaves no line: the trace shows what the peer and the timers could observe.
        """
        marks = self.trace_marks
        if marks is None:
            marks = self.trace_marks = TraceMarks()
        now, key = self.now, self.key
        current = (self.rtx_at, self.delack_at, self.persist_at, self.keep_at, self.state_at)
        deadlines = marks.deadlines
        if current != deadlines:
            for index, name in enumerate((RETRANSMISSION, DELAYED_ACK, PERSIST, KEEPALIVE)):
                new, old = current[index], deadlines[index]
                if new != old:
                    if new is None:
                        tracer(TimerStopped(now, key, name))
                    else:
                        tracer(TimerSet(now, key, name, new))
            new, old = current[4], deadlines[4]
            name = TIME_WAIT if self.state is State.TIME_WAIT else FIN_WAIT_2
            if old is not None and (new is None or name != marks.state_timer):
                tracer(TimerStopped(now, key, marks.state_timer))
            if new is not None and (new != old or name != marks.state_timer):
                tracer(TimerSet(now, key, name, new))
                marks.state_timer = name
            marks.deadlines = current
        if self.state is State.CLOSED or self.state is State.LISTEN:
            return
        rto = self.rto
        srtt = rto.srtt
        cc = self.cc
        metrics: _MetricValues = (
            cc.cwnd,
            cc.ssthresh,
            rto.rto,
            srtt,
            None if srtt is None else rto.rttvar,
            self.snd_una,
            self.snd_nxt,
            self.snd_wnd,
            self.rcv_wnd,
            sq.diff(self.snd_nxt, self.snd_una),
        )
        if metrics != marks.metrics:
            marks.metrics = metrics
            tracer(Metrics(now, key, *metrics))

    def _trace_rtt(self, tracer: Tracer, sample: int) -> None:
        rto = self.rto
        srtt = rto.srtt if rto.srtt is not None else sample
        tracer(RttSample(self.now, self.key, sample, srtt, rto.rttvar, rto.rto))

    def _retry_limit(self) -> int:
        if self.state is State.SYN_SENT:
            return self.config.syn_retries
        if self.state is State.SYN_RCVD and self.passive:
            return self.config.synack_retries
        return self.config.retries2

    def _on_rtx_timeout(self) -> None:
        outstanding = self.snd_una != self.snd_max
        if not outstanding:
            return
        if self.user_timeout_us and self.now - self.una_since >= self.user_timeout_us:
            self.host.counters["TcpExtTCPAbortOnTimeout"] += 1
            self._fail(errno.ETIMEDOUT, "timeout: user timeout")
            return
        if self.retries >= self._retry_limit() and not self._zero_window_answered():
            self.host.counters["TcpExtTCPAbortOnTimeout"] += 1
            self._fail(errno.ETIMEDOUT, "timeout: retransmissions exhausted")
            return
        self.retries += 1
        self.host.counters["TcpExtTCPTimeouts"] += 1
        self.rto.back_off()
        self.rtt_seq = None  # Karn: never time a retransmitted segment
        if self.state is State.SYN_SENT:
            self._send_syn(retransmission=True)
        elif self.state is State.SYN_RCVD or self.snd_una == self.iss:
            # Our SYN is still unacknowledged (also after close() in SYN_RCVD).
            self._send_synack(retransmission=True, reply_to=None)
        else:
            flight = sq.diff(self.snd_max, self.snd_una)
            self.cc.on_timeout(flight, self.now)
            self.in_recovery = False
            self.dupacks = 0
            self.recover = self.snd_max
            if self.sack_negotiated:
                self._enter_rto_recovery()
            else:
                self.snd_nxt = self.snd_una  # go back: resend from the first unacknowledged byte
            self._output()
        self._restart_rtx()

    def _zero_window_answered(self) -> bool:
        """The peer shrank its window to zero under data in flight but still answers the
        probes: RFC 1122 4.2.2.17 forbids giving up (Linux tcp_retransmit_timer: only after
        rto_max of silence, and not for orphans)."""
        return (
            self.snd_wnd == 0
            and self.state in SYNCHRONIZED
            and not self.orphaned
            and self.now - self.last_recv_us <= self.rto.rto_max
        )

    def _on_persist(self) -> None:
        """Zero-window probe: a segment below the window that forces an ACK with the window.

        With a window open but too small for sender SWS avoidance to use, the same timer is
        the override timeout of RFC 9293 3.8.6.2.1 (RFC 1122 4.2.3.4): send what fits, as
        Linux's tcp_write_wakeup does, rather than wait for a window that may never grow
        (the peer's buffer may have shrunk below half the largest window it offered).
        """
        if self.state not in SYNCHRONIZED:
            self.persist_backoff = 0
            return
        if self.snd_wnd > 0:
            self.persist_backoff = 0
            self._output(override=True)
            return
        if self.probes_out >= self.config.retries2:
            # Linux tcp_probe_timer: retries2 probes in a row went unanswered.
            self.host.counters["TcpExtTCPAbortOnTimeout"] += 1
            self._fail(errno.ETIMEDOUT, "timeout: zero-window probes unanswered")
            return
        self._send(sq.add(self.snd_una, -1), ACK)
        self.probes_out += 1  # shared with keepalive, as Linux shares icsk_probes_out
        self.persist_backoff += 1
        self.persist_at = self.now + min(self.rto.rto << self.persist_backoff, self.rto.rto_max)

    def _on_keepalive(self) -> None:
        if not self.keepalive or self.state not in SYNCHRONIZED:
            return
        if self.snd_una != self.snd_max or (self.snd_buf and self.snd_wnd == 0):
            # Data in flight: retransmission (or persist) watches the peer instead.
            self.keep_at = self.now + self.keepintvl_us
            return
        idle = self.now - self.last_recv_us
        if idle < self.keepidle_us and self.probes_out == 0:
            self.keep_at = self.last_recv_us + self.keepidle_us
            return
        if self.probes_out >= self.keepcnt or (
            self.user_timeout_us and idle >= self.user_timeout_us and self.probes_out
        ):
            self.host.counters["TcpExtTCPKeepAliveDrops"] += 1
            self._send_rst()  # Linux tcp_keepalive_timer: tcp_send_active_reset
            self._fail(errno.ETIMEDOUT, "timeout: keepalive")
            return
        self._send(sq.add(self.snd_nxt, -1), ACK)
        self.probes_out += 1
        self.keep_at = self.now + self.keepintvl_us

    # ------------------------------------------------------------------ output

    def _output(self, override: bool = False) -> None:
        """Send new data (and the FIN) as far as the peer's window and cwnd allow.

        ``override``: the SWS override timeout fired; a segment smaller than sender SWS
        avoidance would wait for may go out if nothing is in flight.
        """
        state = self.state
        if state not in SYNCHRONIZED or state is _TIME_WAIT:
            return
        if self.sack_repair:
            self._sack_retransmit()
        if not self.fin_queued and (self.snd_nxt - self.snd_buf_seq) & sq.MASK == len(self.snd_buf):
            return  # nothing unsent: the common case on the receiving side
        if self.sack_ok and (self.ooo or self.sack_dup is not None):
            mss = self._payload_room()
        else:
            mss = self.snd_mss  # what _payload_room gives without SACK blocks to send
        frame = 0  # segments sent back to back in this pass: one TSO frame on Linux
        # What every segment of this pass carries: the window field (computing it again
        # gives the same field) and the timestamp; set by the first that needs them.
        field = -1
        ts = (0, 0)
        while True:
            # sq.diff and min() written out: this loop runs for every segment sent.
            nxt = self.snd_nxt
            offset = (nxt - self.snd_buf_seq) & sq.MASK
            if offset > sq.HALF:  # snd_nxt on the SYN: cannot happen once synchronized
                offset = 0
            available = len(self.snd_buf) - offset
            in_flight = (nxt - self.snd_una) & sq.MASK
            if in_flight > sq.HALF:
                in_flight -= sq.MOD
            window = self.snd_wnd
            cwnd = self.cc.cwnd
            if cwnd < window:
                window = cwnd
            window -= in_flight
            if self.dupacks or self.sack_repair:
                window = self._loss_window(in_flight)
            fin_due = self.fin_queued and sq.diff(nxt, self.fin_seq) <= 0
            if available > 0:
                if window <= 0:
                    if self.snd_wnd == 0 and in_flight == 0 and self.persist_at is None:
                        self.persist_at = self.now + self.rto.rto
                    break
                n = available if available < window else window
                if mss < n:
                    n = mss
                if n < mss and n < available:
                    # Sender SWS avoidance: wait for a full segment unless nothing is in
                    # flight and the window is at least half the largest seen (or the
                    # override timeout fired).
                    if in_flight > 0 or (n < self.max_snd_wnd // 2 and not override):
                        if in_flight == 0 and self.persist_at is None:
                            # The override timeout: RFC 1122 4.2.3.4 puts it at 0.1 to
                            # 1 s, so a backed-off RTO must not stretch it further.
                            self.persist_at = self.now + min(self.rto.rto, SWS_OVERRIDE_MAX_US)
                        break
                elif (
                    n < mss
                    and in_flight > 0
                    and not self.nodelay
                    and not fin_due
                    and not 0 < (self.snd_max - nxt) & sq.MASK < sq.HALF  # sq.lt(nxt, SND.MAX)
                ):
                    break  # Nagle (new data only): one small segment in flight at a time
                self.persist_at = None
                self.persist_backoff = 0
                chunk = bytes(self.snd_buf[offset : offset + n])  # faster than a memoryview
                last = n == available
                frame += 1
                if last:
                    flags = ACK | PSH | FIN if self.fin_queued else ACK | PSH
                elif frame > 1 and self.config.psh_on_tso_frames:
                    # PSH ends the frame unless this loop goes on to send another
                    # segment: a full one always, the last short one where Nagle allows.
                    left, room = available - n, window - n
                    if room <= 0:
                        flags = ACK | PSH
                    else:
                        more = left if left < room else room
                        if self.snd_mss < more:
                            more = self.snd_mss
                        if more == self.snd_mss or (more == left and (self.nodelay or fin_due)):
                            flags = ACK
                        else:
                            flags = ACK | PSH
                else:
                    flags = ACK
                # _transmit_data(chunk, flags), inline: once per data segment sent.
                snd_max = self.snd_max
                retransmission = 0 < (snd_max - nxt) & sq.MASK < sq.HALF  # sq.lt
                if (
                    self.ts_ok
                    and self.sack_dup is None
                    and not (self.sack_ok and self.ooo)
                    and not self.ecn_ok
                ):
                    # _send's fast path: the timestamp is the only option, no ECN flags.
                    if field < 0:
                        field = self._window_field(False)
                        ts = ((self.now // MILLISECOND + self.ts_offset) & sq.MASK, self.ts_recent)
                        self._ack_sent()
                    if retransmission:
                        self.host.counters["TcpRetransSegs"] += 1
                    self.host.emit_ts(
                        self, nxt, self.rcv_nxt, flags, field, 0, ts, chunk, retransmission
                    )
                else:
                    self._send(nxt, flags, chunk, retransmission)
                if not retransmission and self.rtt_seq is None:
                    self.rtt_seq, self.rtt_start = nxt, self.now
                idle = self.snd_una == snd_max
                if idle:
                    self.una_since = self.now
                    self._restart_after_idle()
                self.last_send_us = self.now
                self.snd_nxt = end = (nxt + n + (flags & FIN)) & sq.MASK
                if 0 < (end - snd_max) & sq.MASK < sq.HALF:  # sq.gt(end, snd_max)
                    self.snd_max = end
                if self.rtx_at is None:  # _start_rtx()
                    self._restart_rtx()
                if window <= n and not last and not idle and not (self.dupacks or self.sack_repair):
                    # The window is used up and cwnd did not move: the next turn would
                    # only find that out and stop (with data in flight, no persist timer).
                    break
            elif fin_due and sq.diff(self.fin_seq, nxt) == 0:
                self._transmit_data(b"", FIN | ACK)
                break
            else:
                break

    def _payload_room(self) -> int:
        """The MSS less the SACK blocks the next segment carries: options come out of
        the payload (RFC 6691), or a full segment with blocks would not fit the path."""
        if not self.sack_ok or not (self.ooo or self.sack_dup is not None):
            return self.snd_mss
        blocks = len(self._sack_blocks()) if self.ooo else 0
        if self.sack_dup is not None:
            blocks += 1
        if not blocks:
            return self.snd_mss
        room = MAX_SACK_BLOCKS_WITH_TS if self.ts_ok else MAX_SACK_BLOCKS
        return self.snd_mss - 4 - 8 * min(blocks, room)

    def _transmit_data(self, chunk: bytes, flags: int) -> None:
        """Send ``chunk`` at SND.NXT and account for it (`_output` has its own copy)."""
        seq = self.snd_nxt
        snd_max = self.snd_max
        retransmission = 0 < (snd_max - seq) & sq.MASK < sq.HALF  # sq.lt(seq, snd_max)
        self._send(seq, flags, chunk, retransmission)
        length = len(chunk) + (flags & FIN)
        if not retransmission and self.rtt_seq is None:
            self.rtt_seq, self.rtt_start = seq, self.now
        if self.snd_una == snd_max:
            self.una_since = self.now
            self._restart_after_idle()
        self.last_send_us = self.now
        self.snd_nxt = nxt = (seq + length) & sq.MASK
        if 0 < (nxt - snd_max) & sq.MASK < sq.HALF:  # sq.gt(nxt, snd_max)
            self.snd_max = nxt
        if self.rtx_at is None:  # _start_rtx()
            self._restart_rtx()

    def _restart_after_idle(self) -> None:
        """Data leaves with nothing in flight: let the congestion control account for the
        idle time (Linux's tcp_slow_start_after_idle_check and CA_EVENT_TX_START)."""
        self.cc.on_send_after_idle(
            self.now - self.last_send_us,
            self.rto.rto,
            self.now,
            bool(self.config.slow_start_after_idle),
        )

    def _retransmit_first(self) -> None:
        """Fast retransmit: resend the segment at SND.UNA only.

        Only bytes sent before (below SND.MAX) are resent: bytes never sent may lie
        beyond the peer's window, and sending them here would not advance SND.MAX, so the
        peer's ACK for them would look like an ACK of data not yet sent.
        """
        offset = max(sq.diff(self.snd_una, self.snd_buf_seq), 0)
        size = min(self._payload_room(), max(sq.diff(self.snd_max, self.snd_una), 0))
        chunk = bytes(self.snd_buf[offset : offset + size])
        flags = ACK
        end = sq.add(self.snd_una, len(chunk))
        if self.fin_queued and end == self.fin_seq and sq.gt(self.snd_max, end):
            flags |= FIN
        if not chunk and not flags & FIN:
            return
        self._send(self.snd_una, flags, chunk, retransmission=True)
        self.last_send_us = self.now
        self.rtt_seq = None
        self._restart_rtx()

    # ------------------------------------------------------------------ ICMP

    def icmp_quote_acceptable(self, seq: int) -> bool:
        """RFC 5927 4.1: an ICMP error must quote a sequence number in [SND.UNA, SND.NXT],
        one we may really have sent, or an off-path attacker could guess its way in.

        SND.MAX stands for SND.NXT, which may have gone back after a timeout. A listener's
        half-open child accepts only its SYN,ACK (Linux tcp_req_err).
        """
        if self.passive and self.listener is not None and self.state is State.SYN_RCVD:
            return seq == self.iss
        return sq.le(self.snd_una, seq) and sq.le(seq, self.snd_max)

    def icmp_error(self, code: int, abort_half_open: bool, now: int) -> None:
        """An ICMP error about this connection (RFC 1122 4.2.3.9, Linux tcp_v4_err).

        Before the handshake completes, the error ends the attempt, so connect() reports
        it at once. A listener's half-open child nobody holds yet is dropped quietly, and
        only for ``abort_half_open`` errors. Once synchronized, the error is soft: it may
        be a passing routing fault, so the connection keeps trying, but if it then gives
        up, the user sees this error rather than ETIMEDOUT.
        """
        self.now = now
        state = self.state
        if state is State.SYN_SENT or state is State.SYN_RCVD:
            if self.passive and self.listener is not None:
                if abort_half_open:
                    self.host.counters["TcpExtListenDrops"] += 1
                    self._fail(code, "icmp: half-open dropped")
            else:
                self._fail(code, f"icmp: {errno.errorcode.get(code, code)}")
        elif state in SYNCHRONIZED and state is not State.TIME_WAIT:
            self.soft_error = code
            self.soft_error_una = self.snd_una
        self.host.reschedule(self)

    def path_mtu_reduced(self, mtu: int, now: int) -> None:
        """ICMP reports that ``mtu`` is the largest packet the path carries (RFC 1191,
        RFC 8201): shrink the segments, never grow them on ICMP's word.

        Segments in flight were too big and are lost, so they go again at once at the
        new size, from SND.UNA, within the congestion window: Linux's tcp_simple_retransmit,
        which does not take this as a sign of congestion (cwnd keeps its segment count).
        """
        self.now = now
        if mtu >= self.pmtu:
            return
        self.pmtu = mtu
        if self.state is State.SYN_SENT:
            return  # the MSS is not chosen yet: _take_syn_options applies the new MTU
        mss = mtu - (60 if self.v6 else 40) - (12 if self.ts_ok else 0)
        old = self.snd_mss
        if mss >= old:
            return
        self.snd_mss = mss
        cc = self.cc
        cc.cwnd = max(cc.cwnd * mss // old, mss)
        cc.mss = mss
        if sq.diff(self.snd_max, self.snd_una) > mss and sq.gt(self.snd_una, self.iss):
            self.rtt_seq = None  # Karn: never time a retransmitted segment
            self.dupacks = 0
            self.recover = self.snd_max  # duplicates of the resent data start no recovery
            if self.sack_repair:  # go back instead
                self.in_recovery = self.sack_repair = self.rto_recovery = False
            self.snd_nxt = self.snd_una
            self._output()
        self._finish()

    # ------------------------------------------------------------------ arrival

    def segment_arrives(self, seg: TcpSegment, now: int) -> None:
        """Process one segment addressed to this connection (RFC 9293 3.10.7)."""
        self.now = now
        state = self.state
        if seg.flags & (SYN | FIN) == SYN | FIN and self.config.drop_synfin:
            return
        if self.ts_ok and not self.config.tolerate_missing_ts and self._lacks_timestamp(seg):
            return
        if state is _ESTABLISHED:
            if not (Connection.header_prediction and self._predicted(seg)):
                self._arrive_synchronized(seg)
        elif state is State.SYN_SENT:
            self._arrive_syn_sent(seg)
        elif state is State.LISTEN:
            self._arrive_listen(seg)
        elif state is not State.CLOSED:
            self._arrive_synchronized(seg)
        self._finish()

    def _lacks_timestamp(self, seg: TcpSegment) -> bool:
        """RFC 7323 3.2: with timestamps negotiated, a non-RST segment without one SHOULD
        be dropped (counted; nothing is sent back)."""
        if seg.flags & (RST | SYN) or (seg.options is not None and seg.options.timestamp):
            return False
        self.host.counters["SynackMissingTimestampDrops"] += 1
        return True

    def _predicted(self, seg: TcpSegment) -> bool:
        """Header prediction, the fast path of BSD's tcp_input and Linux's
        tcp_rcv_established: handle the two common segments of a transfer in one place.

        In ESTABLISHED, a segment with only ACK (and PSH) set, exactly at RCV.NXT, fitting
        the window, acknowledging nothing below SND.UNA or beyond SND.MAX, entitled to
        update the send window, with no out-of-order data held and no loss recovery going
        on, is either a pure ACK of new data or in-order data. For such a segment steps 1
        to 8 of RFC 9293 3.10.7.4 reduce to what this method does (tests/tcp/
        test_header_prediction runs both paths and must see the same segments); anything
        else takes the steps. The receiver's window changes with nearly every ACK, so the
        window update is taken here too, as step 5 takes it.
        """
        opts = seg.options
        if opts is None:
            timestamp = None
        elif opts.sack_blocks:
            return False  # the scoreboard reads them on the slow path
        else:
            timestamp = opts.timestamp
        return self.predicted_arrives(
            seg.seq, seg.ack, seg.flags, seg.window, timestamp, seg.payload, self.now, seg
        )

    def predicted_arrives(
        self,
        seq: int,
        ack: int,
        flags: int,
        window: int,
        timestamp: tuple[int, int] | None,
        payload: bytes,
        now: int,
        seg: TcpSegment | None = None,
    ) -> bool:
        """`segment_arrives` of a segment without SACK blocks, given by its fields, when
        header prediction takes it: no TcpSegment is built for the segments of a transfer.
        False, with nothing changed, for any other: the caller then builds the segment
        and calls `segment_arrives`.

        With ``seg`` (the segment those fields came from), this is `_predicted` of
        `segment_arrives`, which checks the state and finishes itself. Only the SACK
        scoreboard needs the segment: without it, a segment that would reach the
        scoreboard is left to the caller.
        """
        if seg is None:
            if self.state is not _ESTABLISHED or not Connection.header_prediction:
                return False
            self.now = now
        if flags & ~PSH != ACK or seq != self.rcv_nxt or self.ooo or self.in_recovery:
            return False
        if timestamp is None and self.ts_ok and not self.config.tolerate_missing_ts:
            return False  # segment_arrives drops and counts it (RFC 7323 3.2)
        una = self.snd_una
        acked = (ack - una) & sq.MASK
        if acked > (self.snd_max - una) & sq.MASK:
            return False  # below SND.UNA (wraps to a huge number) or beyond SND.MAX
        # Step 5 would take the window from it: SND.WL1 < SEG.SEQ, or SND.WL1 == SEG.SEQ
        # and SND.WL2 <= SEG.ACK (sq.le and sq.gt written out: this runs per segment).
        since_wl1 = (seq - self.snd_wl1) & sq.MASK
        if since_wl1 >= sq.HALF or (not since_wl1 and 0 < (self.snd_wl2 - ack) & sq.MASK < sq.HALF):
            return False
        size = len(payload)
        if size:
            promised = (self.rcv_adv - self.rcv_nxt) & sq.MASK  # rcv_wnd is at least this
            if (size > promised or promised >= sq.HALF) and size > self.rcv_wnd:
                return False
        elif not acked:
            return False  # a duplicate ACK: the slow path counts it
        # What _on_new_ack would do beyond growing cwnd: the scoreboard's work (needs seg).
        scoreboard_work = (
            acked and self.sack_negotiated and (self.scoreboard is not None or self.rto_recovery)
        )
        if scoreboard_work and seg is None:
            return False
        tsecr = 0  # the echo that times the ACK: none
        if timestamp is not None and self.ts_ok:
            if (timestamp[0] - self.ts_recent) & sq.MASK >= sq.HALF:
                return False  # older than TS.Recent: PAWS decides on the slow path
            self.ts_recent = timestamp[0]
            tsecr = timestamp[1]
        self.last_recv_us = self.now
        if acked:
            self._ack_advances_echo(ack, tsecr)
            if scoreboard_work:
                self._sack_ack(seg, ack, acked, False)
            else:
                # _on_new_ack outside recovery, with no scoreboard to update (RFC 6675's
                # steps then reduce to NewReno's): only the congestion control hears of it.
                cc = self.cc
                sample = self._cc_rtt_sample_echo(tsecr) if cc.wants_rtt_samples else None
                flight = (self.snd_max - ack) & sq.MASK  # sq.diff(self.snd_max, ack)
                if flight > sq.HALF:
                    flight -= sq.MOD
                cc.on_ack(acked, flight, self.now, sample, self.rto.srtt)
                self.dupacks = 0
        window <<= self.snd_wscale
        if window != self.snd_wnd:  # the window update of step 5, as _step_ack does it
            if window > self.snd_wnd:
                self.persist_at = None
                self.persist_backoff = 0
            self.snd_wnd = window
            if window > self.max_snd_wnd:
                self.max_snd_wnd = window
        self.snd_wl1, self.snd_wl2 = seq, ack
        if size:
            self.rcv_buf += payload
            self.rcv_nxt = (self.rcv_nxt + size) & sq.MASK
            if self._quickacks > 0 or self.config.ack_every_other_segment:
                self._schedule_ack(size)
            else:  # _schedule_ack(size), inline: once per data segment received
                pending = self._delack_pending + size
                self._delack_pending = pending
                if pending >= 2 * self.our_mss - (24 if self.ts_ok else 0):
                    if self.host.batching:
                        self.host.owe_ack(self)
                    else:
                        self._ack_now = True
                elif self.delack_at is None:
                    self.delack_at = self.now + self.config.delack_min_us
            if self.wake is not None:  # _notify()
                self.wake()
        self.probes_out = 0
        if self.keepalive:
            self._arm_keepalive()
        if seg is None:
            # _finish(), inline, skipping the call to _output when it has nothing to do.
            if self.state is not _CLOSED:
                if (
                    self.sack_repair
                    or self.fin_queued
                    or (self.snd_nxt - self.snd_buf_seq) & sq.MASK != len(self.snd_buf)
                ):
                    self._output()
                if self._ack_now:
                    self.send_ack()
            self.host.reschedule(self)
        return True

    def _arrive_listen(self, seg: TcpSegment) -> None:
        """LISTEN on a connection object (the RFC's model, not the BSD listener)."""
        flags = seg.flags
        if flags & RST:
            return
        if flags & ACK:
            self._send_reset_for(seg)
            return
        if flags & SYN:
            self.passive = True
            self.accept_syn(seg)

    def accept_cookie(
        self,
        seg: TcpSegment,
        mss: int,
        peer_wscale: int | None,
        timestamps: bool,
        sack: bool = False,
    ) -> None:
        """Rebuild the SYN_RCVD TCB a SYN cookie stood for, then process its third ACK.

        The listener kept nothing: the ISS is SEG.ACK - 1, the IRS SEG.SEQ - 1, the MSS
        came out of the cookie and the window scale out of the echoed timestamp. From
        here on the ACK takes the ordinary path (SYN_RCVD -> ESTABLISHED, text, FIN).
        """
        self.passive = True
        self.irs = sq.add(seg.seq, -1)
        self.rcv_nxt = self.rcv_up = seg.seq
        self.rcv_adv = sq.add(seg.seq, min(self.rcv_capacity, MAX_WINDOW))  # the cookie's
        if peer_wscale is not None and self.config.window_scaling:
            self.ws_ok = True
            self.snd_wscale = min(peer_wscale, MAX_WSCALE)
        else:
            self.rcv_wscale = 0
        opts = seg.options
        if timestamps and opts is not None and opts.timestamp is not None:
            self.ts_ok = True
            self.ts_recent = opts.timestamp[0]
        if sack and self.config.sack:  # SACK-permitted came back in the echoed timestamp
            self.sack_negotiated = True
            self.sack_ok = self.config.send_sack
        self.snd_mss = max(min(mss, self.our_mss) - (12 if self.ts_ok else 0), 64)
        self.cc = new_congestion_control(self.config, self.snd_mss)
        self.snd_nxt = self.snd_max = sq.add(self.iss, 1)  # as if our SYN,ACK had gone out
        self.last_recv_us = self.now
        self._set_state(State.SYN_RCVD, "syncookie")
        self.segment_arrives(seg, self.now)

    def restore_syn_rcvd(
        self,
        irs: int,
        window: int,
        peer_mss: int,
        peer_wscale: int | None,
        ts_recent: int | None,
        sack_ok: bool,
        sack_negotiated: bool,
        retries: int,
        rtx_at: int,
        first_sent: int,
    ) -> None:
        """Become the SYN_RCVD TCB a SYN-cache entry stood for, as `accept_syn` would
        have left it after ``retries`` SYN,ACK timeouts, without sending or tracing
        anything (the listener traced LISTEN -> SYN_RCVD when the SYN came)."""
        self.passive = True
        self.irs = irs
        self.rcv_nxt = self.rcv_up = sq.add(irs, 1)
        self.rcv_adv = sq.add(self.rcv_nxt, min(self.rcv_capacity, MAX_WINDOW))  # SYN,ACK's
        if peer_wscale is not None:
            self.ws_ok = True
            self.snd_wscale = min(peer_wscale, MAX_WSCALE)
        else:
            self.rcv_wscale = 0
        if ts_recent is not None:
            self.ts_ok = True
            self.ts_recent = ts_recent
        self.sack_ok = sack_ok
        self.sack_negotiated = sack_negotiated
        mss = min(peer_mss, self.our_mss, self.pmtu - (60 if self.v6 else 40))
        self.snd_mss = max(mss - (12 if self.ts_ok else 0), 64)
        self.cc = new_congestion_control(self.config, self.snd_mss)
        self.snd_wnd = self.max_snd_wnd = window
        self.snd_wl1 = irs
        self.snd_nxt = self.snd_max = sq.add(self.iss, 1)
        if retries == 0:
            self.rtt_seq, self.rtt_start = self.iss, first_sent
        self.retries = retries
        for _ in range(retries):
            self.rto.back_off()
        self.rtx_at = rtx_at
        self.state = State.SYN_RCVD
        if self.host.tracer is not None:
            self.trace_marks = TraceMarks()
            self.trace_marks.deadlines = (rtx_at, None, None, None, None)

    def accept_syn(self, seg: TcpSegment) -> None:
        """Take a SYN as a passive opener: record the peer, answer SYN,ACK, SYN_RCVD."""
        self.irs = seg.seq
        self.rcv_nxt = sq.add(seg.seq, 1)
        self.rcv_adv = self.rcv_nxt
        self.rcv_up = self.rcv_nxt
        self._take_syn_options(seg)
        self.ecn_ok = self.config.ecn != 0 and seg.flags & (ECE | CWR) == ECE | CWR
        self.snd_wnd = seg.window
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1 = seg.seq
        self.last_recv_us = self.now
        prior = self.state
        self._set_state(State.SYN_RCVD, "syn" if prior is not State.TIME_WAIT else "syn-tw")
        self._send_synack(retransmission=False, reply_to=seg.options)
        self.snd_nxt = self.snd_max = sq.add(self.iss, 1)
        self.rtt_seq, self.rtt_start = self.iss, self.now
        self._start_rtx()

    def _take_syn_options(self, seg: TcpSegment) -> None:
        cfg = self.config
        opts = seg.options
        if self.noopt and opts is not None:
            opts = TcpOptions(mss=opts.mss)  # we offered nothing, so nothing is agreed
        default_mss = cfg.mss_default_v6 if self.v6 else cfg.mss_default_v4
        peer_mss = default_mss
        if opts is not None:
            if opts.mss is not None and opts.mss > 0:
                peer_mss = opts.mss
            if opts.wscale is not None and cfg.window_scaling:
                self.ws_ok = True
                self.snd_wscale = min(opts.wscale, MAX_WSCALE)
            if opts.timestamp is not None and cfg.timestamps:
                self.ts_ok = True
                self.ts_recent = opts.timestamp[0]
            self.sack_ok = opts.sack_permitted and cfg.sack and cfg.send_sack
            self.sack_negotiated = opts.sack_permitted and cfg.sack
        if not self.ws_ok:
            self.rcv_wscale = 0
        mss = min(peer_mss, self.our_mss, self.pmtu - (60 if self.v6 else 40))
        if self.ts_ok:
            mss -= 12
        self.snd_mss = max(mss, 64)
        self.cc = new_congestion_control(cfg, self.snd_mss)
        if cfg.rcvbuf_round_to_mss and not self.passive:
            self._round_rcv_capacity()  # FreeBSD: as soon as an active open learns the MSS

    def _send_reset_for(self, seg: TcpSegment) -> None:
        """RST in reply to an unacceptable segment, per RFC 9293 (never to a RST)."""
        if seg.flags & RST:
            return
        if seg.flags & ACK:
            self._send(seg.ack, RST, options=None)
        else:
            self._send_raw_rst_ack(sq.add(seg.seq, seg.seg_len))

    def _send_raw_rst_ack(self, ack: int) -> None:
        segment = TcpSegment(self.key[1], self.key[3], 0, ack, RST | ACK, 0)
        self.host.emit(self, segment, False)

    def _arrive_syn_sent(self, seg: TcpSegment) -> None:
        flags = seg.flags
        if flags & ACK and (sq.le(seg.ack, self.iss) or sq.gt(seg.ack, self.snd_max)):
            # Unacceptable ACK, e.g. a SYN,ACK for an old duplicate SYN (S09).
            if not flags & RST:
                self._send(seg.ack, RST, options=None)
            return
        if flags & RST:
            if flags & ACK:
                self._fail(errno.ECONNREFUSED, "reset: refused")
            return
        if not flags & SYN:
            return
        self.irs = seg.seq
        self.rcv_nxt = sq.add(seg.seq, 1)
        self.rcv_adv = self.rcv_nxt
        self.rcv_up = self.rcv_nxt
        self.last_recv_us = self.now
        self._take_syn_options(seg)
        if flags & ACK:
            # RFC 3168 6.1.1: our ECN-setup SYN answered by an ECN-setup SYN,ACK.
            asked = self.config.ecn == 1 and self.retries <= self.config.ecn_syn_retries
            self.ecn_ok = asked and flags & (ECE | CWR) == ECE
            self._ack_advances(seg.ack, seg)
        else:
            # Simultaneous open: the peer's SYN asks for ECN, as a passive open would see.
            self.ecn_ok = self.config.ecn != 0 and flags & (ECE | CWR) == ECE | CWR
        self.snd_wnd = seg.window  # never scaled in a SYN
        self.max_snd_wnd = self.snd_wnd
        self.snd_wl1, self.snd_wl2 = seg.seq, seg.ack
        if sq.gt(self.snd_una, self.iss):
            self._set_state(State.ESTABLISHED, "syn-ack")
            self.rto.handshake_done()
            self._arm_keepalive()
            self._ack_now = True
            if seg.payload or flags & (FIN | URG):
                # Data or a FIN on the SYN,ACK: carry on at the URG step.
                trimmed = _after_syn(seg)
                self._step_urg(trimmed)
                self._step_text(trimmed)
                self._step_fin(trimmed)
        else:
            # Simultaneous open: both SYNs crossed (S06). RFC 9293 3.10.7.3: text or a FIN
            # on the SYN waits for ESTABLISHED (our SYN,ACK acknowledges only the SYN).
            if seg.payload or flags & (FIN | URG):
                self.syn_text = _after_syn(seg)
                if self.config.simultaneous_open_drops_fin and flags & FIN:
                    self.syn_text = dataclasses.replace(
                        self.syn_text, flags=self.syn_text.flags & ~FIN
                    )
            self._set_state(State.SYN_RCVD, "simultaneous-open")
            self._send_synack(retransmission=False, reply_to=seg.options)
            self.retries = 0
            self.rto.reset_backoff()
            self._restart_rtx()

    # --- synchronized states, RFC 9293 3.10.7.4 ---

    def _arrive_synchronized(self, seg: TcpSegment) -> None:
        flags = seg.flags
        idle_us = self.now - self.last_recv_us
        self.last_recv_us = self.now
        if self.state is State.TIME_WAIT:
            self._arrive_time_wait(seg)
            return
        if self.ts_ok and self._paws_rejects(seg, idle_us):
            return
        if (
            self.state is State.SYN_RCVD
            and flags & (SYN | ACK | RST) == SYN
            and seg.seq == self.irs
        ):
            # The peer retransmitted its SYN: our SYN,ACK was lost; send it again.
            self._send_synack(retransmission=True, reply_to=None)
            return
        crossed_synack = (
            self.state is State.SYN_RCVD
            and not self.passive
            and flags & (SYN | ACK) == SYN | ACK
            and seg.seq == self.irs
            and seg.ack == self.snd_max
        )
        if crossed_synack:
            # The peer's SYN,ACK in a simultaneous open: its SYN is old, its ACK is news.
            seg = TcpSegment(
                seg.src_port,
                seg.dst_port,
                self.rcv_nxt,
                seg.ack,
                flags & ~SYN,
                seg.window,
                seg.urgent,
                seg.options,
                seg.payload,
            )
            flags = seg.flags
        elif not self._step_sequence(seg):
            return
        if flags & RST:
            self._step_rst(seg)
            return
        if flags & SYN:
            if self.state is State.SYN_RCVD and self.passive:
                # RFC 9293 step 4: a passive open's half-connection goes back to LISTEN.
                if self.listener is not None:
                    self.listener.child_failed(self)
                self._set_state(State.LISTEN, "syn")
                return
            if self.config.insecure_syn:
                # RFC 793: an in-window SYN is an error; reset and tell the user.
                self._send(self.snd_max, RST | ACK, options=None)
                self._fail(errno.ECONNRESET, "reset: syn")
                return
            self._challenge_ack("TcpExtTCPSYNChallenge")
            return
        if not flags & ACK:
            return
        if not self._step_ack(seg):
            return
        if flags & ECE and self.ecn_ok:
            self._ecn_echoed()
        self._take_timestamp(seg)
        self._step_urg(seg)
        self._step_text(seg)
        self._step_fin(seg)
        if self.state is State.FIN_WAIT_1 and self._fin_acked:
            self._set_state(State.FIN_WAIT_2, "ack-of-fin")
            if self.orphaned:
                self._arm_fin_wait_2()
        self._fin_acked = False
        self.probes_out = 0  # the peer is alive: probes (keepalive or zero-window) answered
        if self.keepalive:
            self._arm_keepalive()

    def _arrive_time_wait(self, seg: TcpSegment) -> None:
        flags = seg.flags
        if flags & RST:
            if self.config.rfc1337:
                return
            if seg.seq == self.rcv_nxt:
                self._set_state(State.CLOSED, "reset")
            return
        if self.config.timewait_acks_all:
            self._arrive_time_wait_bsd(seg)
            return
        if flags & FIN and sq.add(seg.seq, len(seg.payload) + 1) == self.rcv_nxt:
            # A retransmitted FIN: our last ACK was lost (S08). ACK again, wait again.
            self._ack_now = True
            self.state_at = self.now + self.config.timewait_len_us
            return
        if flags & SYN:
            self._challenge_ack("TcpExtTCPSYNChallenge")
            return
        if not flags & ACK and sq.ge(seg.seq, self.rcv_nxt):
            return  # RFC 9293 3.10.7.4, fifth check: in the window without ACK: dropped
        if seg.payload or flags & FIN:
            self._ack_now = True

    def _arrive_time_wait_bsd(self, seg: TcpSegment) -> None:
        """BSD's tcp_twcheck: anything with ACK but a duplicate ACK is answered."""
        flags = seg.flags
        if not flags & ACK:
            return
        if flags & FIN and sq.add(seg.seq, len(seg.payload) + 1) == self.rcv_nxt:
            self.state_at = self.now + self.config.timewait_len_us  # the FIN again
        if flags != ACK or seg.payload or seg.seq != self.rcv_nxt or seg.ack != self.snd_max:
            self._ack_now = True

    def _step_sequence(self, seg: TcpSegment) -> bool:
        """Step 1: is the segment acceptable? (the four-case table)"""
        seg_len = seg.seg_len
        # A listener's half-open connection has offered no more than its SYN,ACK's window
        # (what BSD's syncache and Linux's request socket check against); later the
        # buffer's free space counts too, as in BSD's tcp_input.
        passive_syn_rcvd = self.state is State.SYN_RCVD and self.passive
        wnd = self.rcv_wnd_sent if passive_syn_rcvd else self.rcv_wnd
        nxt = self.rcv_nxt
        if seg_len == 0:
            ok = seg.seq == nxt if wnd == 0 else sq.between(nxt, seg.seq, sq.add(nxt, wnd))
        elif wnd == 0:
            ok = False
        else:
            end = sq.add(nxt, wnd)
            last = sq.add(seg.seq, seg_len - 1)
            # The table's two cases, plus a segment that straddles the whole window (old
            # bytes, then more than fits): its middle is new, and "only the new parts are
            # processed" (RFC 9293 3.10.7.4), as Linux does; step 7 trims both ends.
            ok = (
                sq.between(nxt, seg.seq, end)
                or sq.between(nxt, last, end)
                or (sq.lt(seg.seq, nxt) and sq.ge(last, end))
            )
        if ok:
            return True
        if wnd == 0 and seg_len and seg.seq == nxt and seg.flags & ACK:
            # Zero window: the ACK and RST fields are still processed (RFC 9293).
            return not seg.payload or self._keep_control_only(seg)
        if seg.flags & (SYN | RST) == SYN:
            # RFC 5961 section 4.2: a SYN draws a challenge ACK whatever its sequence number.
            self._challenge_ack("TcpExtTCPSYNChallenge")
        elif seg.flags & RST:
            self.host.counters["SynackRstOutOfWindow"] += 1  # dropped unanswered
        else:
            self._ack_now = True
            if seg_len and sq.lt(seg.seq, nxt) and sq.le(sq.add(seg.seq, seg_len), nxt):
                self.host.counters["TcpExtDelayedACKLost"] += 1
                if self.sack_ok and seg.payload:
                    self.sack_dup = (seg.seq, sq.add(seg.seq, len(seg.payload)))
                if self.config.ack_of_old_segment and seg.flags & ACK:
                    # BSD trims old text (and FIN) away, then still takes the ACK field.
                    seg.seq = nxt
                    return self._keep_control_only(seg)
        return False

    def _keep_control_only(self, seg: TcpSegment) -> bool:
        seg.payload = b""
        seg.flags &= ~(FIN | PSH)
        self._ack_now = True
        return True

    def _challenge_ack(self, counter: str) -> None:
        """RFC 5961: answer with an ACK the real peer can act on; a blind attacker cannot."""
        counters = self.host.counters
        counters[counter] += 1
        limit = self.config.invalid_ratelimit * MILLISECOND
        if limit:
            # RFC 5961 section 7: at most so many challenge ACKs per window.
            if self.challenge_count and self.now - self.challenge_since < limit:
                if self.challenge_count >= self.config.challenge_acks_per_ratelimit:
                    counters["TcpExtTCPACKSkippedChallenge"] += 1
                    return
                self.challenge_count += 1
            else:
                self.challenge_since, self.challenge_count = self.now, 1
        counters["TcpExtTCPChallengeACK"] += 1
        if self.config.repeat_fin:
            self._send(self.snd_max, ACK)  # BSD's tcp_respond: a bare ACK, never the FIN
        else:
            self._ack_now = True

    def _step_rst(self, seg: TcpSegment) -> None:
        """Step 2: RFC 5961 section 3: reset only at exactly RCV.NXT."""
        if seg.seq != self.rcv_nxt and not self.config.insecure_rst:
            self._challenge_ack("TcpExtTCPChallengeACK0")
            return
        state = self.state
        if state is State.SYN_RCVD:
            if self.passive:
                if self.listener is not None:
                    self.listener.child_failed(self)
                self._set_state(State.LISTEN, "reset")
            else:
                self._fail(errno.ECONNREFUSED, "reset: refused")
            return
        if state is State.TIME_WAIT or (self.orphaned and state in (State.CLOSING, State.LAST_ACK)):
            self._set_state(State.CLOSED, "reset")  # RFC 9293: quietly
            return
        # Including CLOSING and LAST-ACK when the user shut down writing but still holds
        # the socket: our FIN (maybe data too) is unacknowledged, so, as Linux's tcp_reset
        # does, report the reset, or the user would take a lost stream for a delivered one.
        self._fail(errno.ECONNRESET, "reset")

    def _step_ack(self, seg: TcpSegment) -> bool:
        """Step 5: the ACK field; False when processing stops here."""
        ack = seg.ack
        state = self.state
        if state is State.SYN_RCVD:
            if sq.lt(self.snd_una, ack) and sq.le(ack, self.snd_max):
                if self.listener is not None and self.passive and self.listener.accept_queue_full():
                    self._accept_queue_overflow(ack)
                    return False
                self._set_state(State.ESTABLISHED, "ack")
                self._ack_advances(ack, seg)
                self.rto.handshake_done()
                self.snd_wnd = seg.window << self.snd_wscale
                self.max_snd_wnd = max(self.max_snd_wnd, self.snd_wnd)
                self.snd_wl1, self.snd_wl2 = seg.seq, ack
                self._arm_keepalive()
                if self.listener is not None and self.passive:
                    self.listener.child_established(self)
                queued, self.syn_text = self.syn_text, None
                if queued is not None:
                    self._step_urg(queued)
                    self._step_text(queued)
                    self._step_fin(queued)
                return True
            self._send(ack, RST, options=None)
            return False
        if sq.gt(ack, self.snd_max):
            self._ack_now = True  # acknowledges something not yet sent
            return False
        if sq.lt(ack, sq.add(self.snd_una, -max(self.max_snd_wnd, 1))):
            self._challenge_ack("TcpExtTCPACKSkippedSeq")  # RFC 5961 section 5
            return False
        window = seg.window << self.snd_wscale
        if self.sack_negotiated:
            self._sack_step_ack(seg, ack, window)
        elif sq.gt(ack, self.snd_una):
            acked = sq.diff(ack, self.snd_una)
            self._ack_advances(ack, seg)
            self._on_new_ack(acked, ack, seg)
        elif (
            ack == self.snd_una
            and not seg.payload
            and not seg.flags & FIN
            and window == self.snd_wnd
            and self.snd_una != self.snd_max
        ):
            self._on_dupack()
        if sq.lt(self.snd_wl1, seg.seq) or (self.snd_wl1 == seg.seq and sq.le(self.snd_wl2, ack)):
            opened = window > self.snd_wnd
            self.snd_wnd = window
            self.snd_wl1, self.snd_wl2 = seg.seq, ack
            if window > self.max_snd_wnd:
                self.max_snd_wnd = window
            if opened:
                self.persist_at = None
                self.persist_backoff = 0
        if self.fin_acked:
            if state is State.FIN_WAIT_1:
                self._fin_acked = True
            elif state is State.CLOSING:
                self._enter_time_wait("ack-of-fin")
                return False
            elif state is State.LAST_ACK:
                self._set_state(State.CLOSED, "ack-of-fin")
                return False
        return True

    def _accept_queue_overflow(self, ack: int) -> None:
        """The handshake completes but the listener's accept queue is full (Linux
        tcp_check_req): drop the ACK and stay in SYN_RCVD, so the SYN,ACK timer makes the
        peer send it again later; with tcp_abort_on_overflow, reset instead."""
        counters = self.host.counters
        counters["TcpExtListenOverflows"] += 1
        counters["TcpExtListenDrops"] += 1
        if self.config.abort_on_overflow:
            self._send(ack, RST, options=None)
            self._fail(errno.ECONNABORTED, "abort: accept queue full")

    def _ack_advances(self, ack: int, seg: TcpSegment | None = None) -> None:
        """SND.UNA moves to ``ack``, acknowledged by ``seg`` (see `_ack_advances_echo`)."""
        tsecr = 0
        if seg is not None:
            opts = seg.options
            if opts is not None and opts.timestamp is not None:
                tsecr = opts.timestamp[1]
        self._ack_advances_echo(ack, tsecr)

    def _ack_advances_echo(self, ack: int, tsecr: int) -> None:
        """SND.UNA moves to ``ack``: free acknowledged bytes, sample RTT, re-arm RTO.

        RTT samples come from the one timed segment (Karn's rule: never a retransmitted
        one) or, when none is timed, from the timestamp the ACK echoes (RFC 7323 section
        4): the echo names the transmission it answers, so a retransmission is no
        ambiguity, and a backed-off RTO recovers after losses instead of ratcheting up.
        """
        # sq.add, sq.le, sq.diff and sq.gt written out: this runs for every ACK of data.
        buf_seq = self.snd_buf_seq
        data_end = (buf_seq + len(self.snd_buf)) & sq.MASK
        upto = ack if (data_end - ack) & sq.MASK < sq.HALF else data_end
        freed = (upto - buf_seq) & sq.MASK
        if freed > sq.HALF:
            freed -= sq.MOD
        if freed > 0:
            del self.snd_buf[:freed]
            self.snd_buf_seq = upto
        if self.rtt_seq is not None:
            if 0 < (ack - self.rtt_seq) & sq.MASK < sq.HALF:
                rtt = self.now - self.rtt_start
                self.rto.sample(rtt)
                self.rtt_seq = None
                if self.host.tracer is not None:
                    self._trace_rtt(self.host.tracer, rtt)
        elif tsecr and self.ts_ok:  # tsecr 0: no timestamp, or one that echoes nothing
            elapsed_ms = (self._ts_now() - tsecr) & sq.MASK
            if elapsed_ms * MILLISECOND <= self.rto.rto_max:  # else a stale or bogus echo
                rtt = max(elapsed_ms, 1) * MILLISECOND
                self.rto.sample(rtt)
                if self.host.tracer is not None:
                    self._trace_rtt(self.host.tracer, rtt)
        self.snd_una = ack
        if 0 < (ack - self.snd_nxt) & sq.MASK < sq.HALF:  # sq.lt(self.snd_nxt, ack)
            self.snd_nxt = ack
        self.retries = 0
        # No reset_backoff() here: Karn / RFC 6298 section 5 keep the backed-off RTO until
        # a valid RTT sample (rto.sample() resets it) or the handshake ends (handshake_done).
        self.una_since = self.now
        if self.snd_una == self.snd_max:
            self.rtx_at = None
        elif self.user_timeout_us:
            self._restart_rtx()
        else:  # _restart_rtx() without a user timeout, inline: once per ACK of data
            self.rtx_at = self.now + self.rto.rto
        if freed > 0 and self.wake is not None:  # _notify()
            self.wake()

    def _on_new_ack(self, acked: int, ack: int, seg: TcpSegment | None = None) -> None:
        if self.sack_negotiated:
            self._sack_ack(seg, ack, acked, False)
            return
        cc = self.cc
        if self.in_recovery:
            if sq.ge(ack, self.recover):
                self.in_recovery = False
                cc.exit_recovery()
            else:
                cc.partial_ack(acked)
                self._retransmit_first()
        else:
            sample = self._cc_rtt_sample(seg) if cc.wants_rtt_samples else None
            cc.on_ack(acked, sq.diff(self.snd_max, ack), self.now, sample, self.rto.srtt)
        self.dupacks = 0

    def _cc_rtt_sample(self, seg: TcpSegment | None) -> int | None:
        """An RTT sample from this ACK's timestamp echo, for the congestion control only
        (HyStart++ wants several per round trip; the RTO keeps its own samples)."""
        if seg is None:
            return None
        opts = seg.options
        if opts is None or opts.timestamp is None:
            return None
        return self._cc_rtt_sample_echo(opts.timestamp[1])

    def _cc_rtt_sample_echo(self, tsecr: int) -> int | None:
        """`_cc_rtt_sample` of an ACK echoing ``tsecr`` (0: none)."""
        if not self.ts_ok or not tsecr:
            return None
        elapsed_ms = (self._ts_now() - tsecr) & sq.MASK
        if elapsed_ms * MILLISECOND > self.rto.rto_max:
            return None  # a stale or bogus echo
        return max(elapsed_ms, 1) * MILLISECOND

    def _on_dupack(self) -> None:
        self.dupacks += 1
        if self.in_recovery:
            self.cc.inflate()
        # RFC 6582: a new recovery only if the ACK covers more than the highest sequence
        # number sent before; ``recover`` holds one past it (snd_max), hence >=.
        elif self.dupacks == 3 and sq.ge(self.snd_una, self.recover):
            self.in_recovery = True
            self.recover = self.snd_max
            self.cc.enter_recovery(sq.diff(self.snd_max, self.snd_una), self.now)
            self.host.counters["TcpExtTCPFastRetrans"] += 1
            self._retransmit_first()

    # ------------------------------------------------------------------ SACK recovery

    def _sack_step_ack(self, seg: TcpSegment, ack: int, window: int) -> None:
        """Step 5 when SACK was negotiated: the cumulative ACK, then the blocks."""
        una = self.snd_una
        acked = sq.diff(ack, una) if sq.gt(ack, una) else 0
        if acked:
            self._ack_advances(ack, seg)
        duplicate = (
            not acked
            and ack == una
            and not seg.payload
            and not seg.flags & FIN
            and window == self.snd_wnd
            and una != self.snd_max
        )
        self._sack_ack(seg, ack, acked, duplicate)

    def _sack_ack(self, seg: TcpSegment | None, ack: int, acked: int, duplicate: bool) -> None:
        """RFC 6675 section 5: update the scoreboard, then enter, run or leave recovery.

        An ACK that SACKs new data counts as a duplicate whatever else it carries (RFC
        6675 section 2): data or a window update riding on it still reports a loss.
        """
        sb = self.scoreboard
        opts = seg.options if seg is not None else None
        blocks = opts.sack_blocks if opts is not None else ()
        if sb is None and blocks:
            sb = self.scoreboard = Scoreboard()
        delivered = acked
        if sb is not None:
            before = sb.sacked
            counters = self.host.counters
            if acked and sb.advance(self.snd_una):
                counters["TcpExtTCPSACKReneging"] += 1
            if blocks:
                update = sb.update(self.snd_una, self.snd_max, ack, blocks)
                if update.discarded:
                    counters["TcpExtTCPSACKDiscard"] += update.discarded
                if update.dsack:
                    counters["TcpExtTCPDSACKRecv"] += 1
                if update.newly_sacked and self.snd_una != self.snd_max:
                    duplicate = True
            delivered = max(acked + sb.sacked - before, 0)
        if acked:
            self.dupacks = 0
        if duplicate:
            self.dupacks += 1
        una = self.snd_una
        if self.in_recovery:
            if sq.ge(una, self.recover):
                self.in_recovery = False
                self.sack_repair = self.rto_recovery
                self.cc.exit_recovery()
            else:
                self._prr_update(delivered, acked > 0)
        else:
            if acked:
                cc = self.cc
                sample = self._cc_rtt_sample(seg) if cc.wants_rtt_samples else None
                cc.on_ack(acked, sq.diff(self.snd_max, una), self.now, sample, self.rto.srtt)
            if self.rto_recovery and sq.ge(una, self.recover):
                self.rto_recovery = self.sack_repair = False
            if (
                not self.rto_recovery
                and una != self.snd_max
                and sq.ge(una, self.recover)
                and (
                    self.dupacks >= DUP_THRESH
                    or (sb is not None and sb.lost_edge(self.snd_mss) is not None)
                )
            ):
                self._enter_sack_recovery(delivered)
        if sb is not None and not sb.ranges and not self.sack_repair:
            self.scoreboard = None  # nothing to remember: idle connections stay small

    def _enter_sack_recovery(self, delivered: int) -> None:
        """RFC 6675 section 5 steps 4.1-4.3, with PRR (RFC 6937) pacing what follows."""
        flight = sq.diff(self.snd_max, self.snd_una)
        self.in_recovery = self.sack_repair = True
        self.recover = self.snd_max
        cc = self.cc
        self.recover_fs = cc.cwnd  # Linux's prior_cwnd stands for RFC 6937's RecoverFS
        cc.enter_recovery(flight, self.now)
        cc.cwnd = cc.ssthresh  # no NewReno inflation: the pipe counts what has left
        counters = self.host.counters
        counters["TcpExtTCPFastRetrans"] += 1
        counters["TcpExtTCPSackRecovery"] += 1
        sb = self.scoreboard
        if sb is None:
            sb = self.scoreboard = Scoreboard()
        self.high_rxt = self.snd_una
        self.prr_delivered = self.prr_out = 0
        self._prr_update(delivered, False)
        # Step 4.3: the first segment goes now, whatever the window says.
        hole = sb.hole(self.snd_una, self.snd_max)
        if hole is not None:
            sent = self._retransmit_range(*hole)
            self.high_rxt = sq.add(hole[0], sent)
            self.prr_out += sent

    def _enter_rto_recovery(self) -> None:
        """After a timeout, resend only what the receiver lacks (RFC 6675 section 5.1).

        Every unSACKed byte sent so far counts as lost, and NextSeg resends them in
        order as slow start allows. A second timeout in a row forgets the SACK
        information: the receiver may have reneged (RFC 2018 section 8), and a lying
        block must not keep a hole from being resent for ever.
        """
        sb = self.scoreboard
        if sb is None:
            self.scoreboard = Scoreboard()
        elif self.retries > 1:
            sb.clear()
        self.rto_recovery = self.sack_repair = True
        self.high_rxt = self.snd_una

    def _prr_update(self, delivered: int, una_advanced: bool) -> None:
        """RFC 6937 (as Linux's tcp_cwnd_reduction): cwnd becomes the pipe plus what this
        ACK lets out. Above ssthresh, sending follows delivery in proportion; below it,
        it rebuilds towards ssthresh, by one segment more than delivered only when the
        cumulative ACK moved (the reduction bound of RFC 6937bis)."""
        if delivered <= 0:
            return
        self.prr_delivered += delivered
        pipe = self._pipe()
        ssthresh = self.cc.ssthresh
        prr_out = self.prr_out + max(sq.diff(self.snd_max, self.recover), 0)
        if pipe > ssthresh:
            quota = -(-self.prr_delivered * ssthresh // max(self.recover_fs, 1))
            sndcnt = quota - prr_out
        else:
            sndcnt = max(self.prr_delivered - prr_out, delivered)
            if una_advanced:
                sndcnt += self.snd_mss
            sndcnt = min(ssthresh - pipe, sndcnt)
        if not prr_out:
            sndcnt = max(sndcnt, self.snd_mss)  # the fast retransmit always goes
        self.cc.cwnd = pipe + max(sndcnt, 0)

    def _lost_edge(self) -> int | None:
        sb = self.scoreboard
        edge = sb.lost_edge(self.snd_mss) if sb is not None else None
        if self.rto_recovery:
            edge = self.recover if edge is None else sq.max_seq(edge, self.recover)
        return edge

    def _pipe(self) -> int:
        sb = self.scoreboard
        if sb is None:
            return sq.diff(self.snd_max, self.snd_una)
        if sq.lt(self.high_rxt, self.snd_una):
            self.high_rxt = self.snd_una
        return sb.pipe(self.snd_una, self.snd_max, self.high_rxt, self._lost_edge())

    def _loss_window(self, in_flight: int) -> int:
        """Room for new data while loss is suspected or being repaired."""
        room = self.snd_wnd - in_flight
        if self.sack_repair:
            return min(room, self.cc.cwnd - self._pipe())
        if self.in_recovery or self.snd_nxt != self.snd_max:
            return min(self.snd_wnd, self.cc.cwnd) - in_flight
        # RFC 3042 limited transmit: each of the first two duplicate ACKs lets one new
        # segment out, so a small window still gets its third duplicate ACK.
        return min(room, self.cc.cwnd + min(self.dupacks, 2) * self.snd_mss - in_flight)

    def _new_data_sendable(self) -> bool:
        unsent = len(self.snd_buf) - sq.diff(self.snd_nxt, self.snd_buf_seq)
        fin_unsent = self.fin_queued and sq.le(self.snd_max, self.fin_seq)
        return (unsent > 0 or fin_unsent) and self.snd_wnd > sq.diff(self.snd_nxt, self.snd_una)

    def _sack_retransmit(self) -> None:
        """RFC 6675 NextSeg rules 1 and 3 while cwnd - pipe leaves a segment's room; rule 2
        (new data) is the ordinary output loop that follows."""
        sb = self.scoreboard
        if sb is None:
            sb = self.scoreboard = Scoreboard()
        una = self.snd_una
        snd_max = self.snd_max
        sb.advance(una)
        lost = self._lost_edge()
        pipe = self._pipe()
        cwnd = self.cc.cwnd
        mss = self.snd_mss
        while cwnd - pipe >= mss:
            hole = sb.hole(self.high_rxt, snd_max)
            if hole is None:
                break
            start = hole[0]
            if lost is None or not sq.lt(start, lost):
                # Rule 3: a hole below the highest SACKed byte, when no new data can go.
                highest = sb.highest
                if highest is None or not sq.lt(start, highest) or self._new_data_sendable():
                    break
            sent = self._retransmit_range(*hole)
            if not sent:
                break
            self.high_rxt = sq.add(start, sent)
            pipe += sent
            if self.in_recovery:
                self.prr_out += sent

    def _retransmit_range(self, seq: int, size: int) -> int:
        """Resend up to one MSS of what was sent from ``seq`` on; the sequence space used."""
        offset = sq.diff(seq, self.snd_buf_seq)
        if offset < 0:
            return 0
        size = min(size, self._payload_room())
        chunk = bytes(self.snd_buf[offset : offset + size])
        end = sq.add(seq, len(chunk))
        # PSH as the go-back path sets it: on a segment that empties the buffer.
        flags = ACK | PSH if chunk and offset + len(chunk) == len(self.snd_buf) else ACK
        if self.fin_queued and end == self.fin_seq and sq.gt(self.snd_max, end):
            flags |= FIN
        if not chunk and not flags & FIN:
            return 0
        self._send(seq, flags, chunk, retransmission=True)
        self.last_send_us = self.now
        self.rtt_seq = None  # Karn: the timed segment's ACK may wait for this one
        if seq == self.snd_una:
            self._restart_rtx()
        else:
            self._start_rtx()
        return len(chunk) + (1 if flags & FIN else 0)

    # ------------------------------------------------------------------ timestamps

    def _paws_rejects(self, seg: TcpSegment, idle_us: int) -> bool:
        """RFC 7323 section 5: a segment stamped before TS.Recent is an old duplicate
        from a previous wrap of the sequence space; drop it and ACK (Linux's
        tcp_validate_incoming). RSTs are exempt, and so is any segment after 24 days
        of silence, when the peer's clock may have wrapped past TS.Recent."""
        opts = seg.options
        if opts is None or opts.timestamp is None or seg.flags & RST:
            return False
        tsval = opts.timestamp[0]
        behind = (self.ts_recent - tsval) & sq.MASK
        if behind <= sq.PAWS_WINDOW or behind >= sq.HALF:
            return False
        if idle_us > PAWS_IDLE_US:
            self.ts_recent = tsval  # TS.Recent went stale (section 5.5): the clock moved on
            return False
        self.host.counters["TcpExtPAWSEstabRejected"] += 1
        if seg.flags & SYN:
            self._challenge_ack("TcpExtTCPSYNChallenge")
        else:
            self._ack_now = True
        return True

    def _take_timestamp(self, seg: TcpSegment) -> None:
        opts = seg.options
        if (
            self.ts_ok
            and opts is not None
            and opts.timestamp is not None
            and sq.le(seg.seq, self.rcv_nxt)
            and (opts.timestamp[0] - self.ts_recent) & sq.MASK < sq.HALF
        ):
            # RFC 7323 section 4.3: never back, and only from a segment at the left edge.
            self.ts_recent = opts.timestamp[0]

    def _step_urg(self, seg: TcpSegment) -> None:
        """Step 6: remember the urgent pointer; the user is told the mark (S31)."""
        if seg.flags & URG and self.state in CAN_RECEIVE:
            up = sq.add(seg.seq, seg.urgent)
            if sq.gt(up, self.rcv_up):
                self.rcv_up = up
                self.urgent_mark = up

    def _step_text(self, seg: TcpSegment) -> None:
        """Step 7: in-order data to the user, out-of-order data kept (bounded)."""
        payload = seg.payload
        if not payload:
            return
        if self.state not in CAN_RECEIVE:
            return  # the peer already sent its FIN: data after it is ignored
        if self.rcv_shut and self.orphaned:
            # Data for a socket the user closed: nobody will read it (Linux AbortOnData).
            self.host.counters["TcpExtTCPAbortOnData"] += 1
            self._send_rst()
            self._fail(errno.ECONNRESET, "abort: data after close")
            return
        seq = seg.seq
        offset = sq.diff(self.rcv_nxt, seq)
        if offset > 0:
            if self.sack_ok:
                self.sack_dup = (seq, sq.add(seq, min(offset, len(payload))))
            payload = payload[offset:]
            seq = self.rcv_nxt
        elif self.sack_ok and self.ooo:
            self._note_duplicate(seq, len(payload))
        if self.sack_dup is not None:
            self._ack_now = True  # the D-SACK goes out before the next segment clears it
        room = max(sq.diff(sq.add(self.rcv_nxt, self.rcv_wnd), seq), 0)
        fin = bool(seg.flags & FIN)
        if len(payload) > room:
            payload = payload[:room]
            fin = False
            seg.flags &= ~FIN
        if not payload:
            return
        if seq == self.rcv_nxt:
            self.rcv_buf += payload
            self.rcv_nxt = sq.add(self.rcv_nxt, len(payload))
            if self.ooo:
                self._drain_ooo()
                self._ack_now = True
            else:
                self._schedule_ack(len(payload))
            self._notify()
        else:
            old = self.ooo.get(seq)
            if old is not None and len(old[0]) >= len(payload):
                pass  # held already, and no shorter: keep what we have
            elif self._ooo_fits(seq, len(payload)):
                if old is not None:
                    self.ooo_bytes -= len(old[0])
                if self.ooo is NOTHING_HELD:
                    self.ooo = {}
                self.ooo[seq] = (bytes(payload), fin)
                self.ooo_bytes += len(payload)
            if seq in self.ooo and self.sack_ok:
                recent = self.sack_recent
                if not isinstance(recent, list):
                    recent = self.sack_recent = []
                if seq in recent:
                    recent.remove(seq)
                recent.insert(0, seq)
                del recent[MAX_SACK_RECENT:]
            seg.flags &= ~FIN  # processed when the hole fills
            self._ack_now = True  # duplicate ACK tells the sender about the hole

    def _note_duplicate(self, seq: int, size: int) -> None:
        """D-SACK (RFC 2883) for the first part of arriving data that we hold out of order."""
        nxt = self.rcv_nxt
        low = (seq - nxt) & sq.MASK
        high = low + size
        first: tuple[int, int] | None = None
        if len(self.ooo) > SACK_SCAN_LIMIT:
            # No scan of a long queue for each segment: only the common duplicate, the
            # same segment again, is reported (a D-SACK is advice, never needed).
            held = self.ooo.get(seq)
            if held is not None:
                self.sack_dup = (seq, sq.add(seq, min(size, len(held[0]))))
            return
        for start, (data, _fin) in self.ooo.items():
            held_low = (start - nxt) & sq.MASK
            held_high = held_low + len(data)
            if held_low < high and low < held_high:
                overlap = (max(low, held_low), min(high, held_high))
                if first is None or overlap[0] < first[0]:
                    first = overlap
        if first is not None:
            self.sack_dup = (sq.add(nxt, first[0]), sq.add(nxt, first[1]))

    def _ooo_fits(self, seq: int, size: int) -> bool:
        """Out-of-order data counts against the receive buffer when it arrives (as on
        Linux), so overlapping segments cannot pile up more than rcv_capacity bytes; the
        number of entries is bounded too (tiny segments cost more than their bytes)."""
        replaced = self.ooo.get(seq)
        if replaced is None:
            cap = max(MAX_OOO_SEGMENTS, self.rcv_capacity // OOO_BYTES_PER_SEGMENT)
            if len(self.ooo) >= cap:
                return False
        held = len(self.rcv_buf) + self.ooo_bytes + size
        if replaced is not None:
            held -= len(replaced[0])
        return held <= self.rcv_capacity

    def _drain_ooo(self) -> None:
        """Deliver what the hole's filling made in order: entries are keyed by their first
        sequence number, so the common case (the next one starts exactly at RCV.NXT) is a
        dictionary lookup; only when none does is the queue scanned for overlaps."""
        ooo = self.ooo
        while ooo:
            entry = ooo.pop(self.rcv_nxt, None)
            if entry is None:
                if not self._drain_overlapping():
                    return
                continue
            data, fin = entry
            self.ooo_bytes -= len(data)
            self.rcv_buf += data
            self.rcv_nxt = sq.add(self.rcv_nxt, len(data))
            if fin:
                self._receive_fin()
                ooo.clear()
                self.ooo_bytes = 0
                return

    def _drain_overlapping(self) -> bool:
        """One pass over entries that start before RCV.NXT: drop the stale, deliver the
        new tail of one that straddles it. True if RCV.NXT moved."""
        nxt = self.rcv_nxt
        for start in list(self.ooo):
            if not sq.lt(start, nxt):
                continue
            data, fin = self.ooo.pop(start)
            self.ooo_bytes -= len(data)
            end = sq.add(start, len(data))
            if sq.gt(end, nxt):
                self.ooo[nxt] = (data[sq.diff(nxt, start) :], fin)  # the new part
                self.ooo_bytes += sq.diff(end, nxt)
                return True
            if fin and end == nxt and not self.peer_fin:
                self._receive_fin()
                self.ooo.clear()
                self.ooo_bytes = 0
                return False
        return False

    def _schedule_ack(self, length: int) -> None:
        """Delayed ACK: every second full segment at once, otherwise within delack_min."""
        if self._quickacks > 0:
            self._quickacks -= 1
            self._ack_now = True
            return
        self._delack_pending += length
        if self.config.ack_every_other_segment:
            # BSD's DELAY_ACK: a second segment while the delayed ACK waits, or a
            # segment larger than one MSS, is ACKed at once.
            due = self.delack_at is not None or length > self.our_mss
        else:
            due = self._delack_pending >= 2 * self.our_mss - (24 if self.ts_ok else 0)
        if due:
            if self.host.batching:
                # Several segments arrived together (a burst read from a device): one
                # ACK at the end of the burst covers them all, as GRO makes Linux do.
                self.host.owe_ack(self)
            else:
                self._ack_now = True
        elif self.delack_at is None:
            self.delack_at = self.now + self.config.delack_min_us

    def _step_fin(self, seg: TcpSegment) -> None:
        """Step 8: a FIN that is next in sequence ends the peer's stream."""
        if not seg.flags & FIN:
            return
        if sq.add(seg.seq, len(seg.payload)) != self.rcv_nxt:
            self._ack_now = True  # a FIN beyond a hole: say where the hole is
            return
        if self.peer_fin:
            self._ack_now = True
            return
        self._receive_fin()

    def _receive_fin(self) -> None:
        self.peer_fin = True
        # Nothing can follow the FIN, so there is nothing left to SACK: like Linux
        # (tcp_fin's SACK reset), forget a pending D-SACK of data the FIN repeated.
        self.sack_dup = None
        nothing_received = sq.diff(self.rcv_nxt, self.irs) == 1
        self.rcv_nxt = sq.add(self.rcv_nxt, 1)
        state = self.state
        if state in (State.SYN_RCVD, State.ESTABLISHED):
            # Like Linux, delay this ACK: an application that closes at once sends its
            # FIN with it (S04), the three-segment close seen in most captures. Until
            # data has arrived, Linux's delay is a single timer tick (delack_first_us).
            if self.config.ack_fin_at_once:
                self._ack_now = True
            elif nothing_received:
                self.delack_at = self.now + self.config.delack_first_us
            elif self.delack_at is None:
                self.delack_at = self.now + self.config.delack_min_us
            self._set_state(State.CLOSE_WAIT, "fin")
            return
        self._ack_now = True
        if state is State.FIN_WAIT_1:
            if self._fin_acked or self.fin_acked:
                self._fin_acked = False
                self._enter_time_wait("fin")
            else:
                self._set_state(State.CLOSING, "fin")
        elif state is State.FIN_WAIT_2:
            self._enter_time_wait("fin")
        self._notify()

    def _enter_time_wait(self, reason: str) -> None:
        if self.host.time_wait_full():
            # Beyond max_tw_buckets: skip TIME-WAIT (Linux: "time wait bucket table
            # overflow"), after the ACK of the FIN that brought us here.
            self.host.counters["TcpExtTCPTimeWaitOverflow"] += 1
            if self._ack_now:
                self.send_ack()
            self._set_state(State.CLOSED, "time-wait overflow")
            return
        self._set_state(State.TIME_WAIT, reason)
        self.rtx_at = self.keep_at = self.persist_at = None
        self.state_at = self.now + self.config.timewait_len_us


def _after_syn(seg: TcpSegment) -> TcpSegment:
    """What a SYN carried besides the SYN itself: its text and FIN, one sequence number on."""
    return TcpSegment(
        seg.src_port,
        seg.dst_port,
        sq.add(seg.seq, 1),
        seg.ack,
        seg.flags & ~SYN,
        seg.window,
        seg.urgent,
        seg.options,
        seg.payload,
    )

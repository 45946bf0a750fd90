"""Every tunable of the engine, named after its Linux sysctl where one exists.

Fields named after a sysctl (without the ``net.ipv4.tcp_`` prefix) keep the sysctl's unit
(seconds or a count), so a value read from ``sysctl`` can be copied in unchanged. Fields that
no sysctl covers are in microseconds and end in ``_us``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from synack.tcp.congestion import ALGORITHMS

SECOND = 1_000_000
MILLISECOND = 1_000


@dataclass(frozen=True, slots=True)
class TcpConfig:
    """Engine settings; the default is the ``linux`` profile."""

    # --- sysctl net.ipv4.tcp_* (Linux units) ---
    syn_retries: int = 6
    synack_retries: int = 5
    retries2: int = 15
    fin_timeout: int = 60  # seconds an orphaned FIN-WAIT-2 connection lives
    keepalive_time: int = 7200  # seconds idle before the first probe
    keepalive_intvl: int = 75  # seconds between probes
    keepalive_probes: int = 9
    max_syn_backlog: int = 128  # the plain SYN queue (syn_cache off); see syncache_buckets
    somaxconn: int = 4096  # net.core.somaxconn: cap on listen(backlog)
    syncookies: int = 1
    abort_on_overflow: int = 0
    tw_reuse: int = 2
    max_tw_buckets: int = 262144
    rfc1337: int = 0
    timestamps: bool = True
    window_scaling: bool = True
    sack: bool = True  # offer SACK-permitted; with it negotiated, recover per RFC 6675
    send_sack: bool = True  # with SACK negotiated, report out-of-order data (RFC 2018)
    rmem: int = 131072  # tcp_rmem[1]: receive buffer (SO_RCVBUF) in bytes
    wmem: int = 131072  # tcp_wmem[1]: send buffer (SO_SNDBUF) in bytes

    # --- not covered by a sysctl (microseconds unless named otherwise) ---
    timewait_len_us: int = 60 * SECOND
    rto_min_us: int = 200 * MILLISECOND
    rto_max_us: int = 120 * SECOND
    rto_initial_us: int = 1 * SECOND
    delack_min_us: int = 40 * MILLISECOND
    delack_max_us: int = 200 * MILLISECOND
    quickacks: int = 16  # segments ACKed at once when data starts flowing
    initial_cwnd: int = 10  # segments (RFC 6928)
    mss_default_v4: int = 536  # assumed when a SYN has no MSS option
    mss_default_v6: int = 1220
    mtu: int = 1500  # of the local link: our MSS is derived from it
    rst_ack_on_abort: bool = True  # Linux sets ACK on the RST of an abort
    syn_option_layout: str = "linux"  # order of SYN options: "linux" or "freebsd"
    ack_fin_at_once: bool = False  # FreeBSD: no more data can come, so why wait
    ack_every_other_segment: bool = False  # BSD: the 2nd segment is ACKed, whatever its size
    timewait_acks_all: bool = False  # FreeBSD: ACK all in TIME-WAIT but a duplicate ACK
    repeat_fin: bool = False  # FreeBSD: each ACK sent while our FIN is unACKed carries it
    rcvbuf_round_to_mss: bool = False  # FreeBSD's tcp_mss: whole segments fit the buffer
    # FreeBSD's net.inet.tcp.* switches back to RFC 793 (before RFC 5961):
    insecure_rst: bool = False  # any in-window RST resets, not only one at RCV.NXT
    insecure_syn: bool = False  # an in-window SYN resets instead of drawing a challenge ACK
    drop_synfin: bool = False  # drop SYN+FIN segments unseen (they fingerprint a stack)
    # FreeBSD's syncache takes a SYN+FIN at a listener as a SYN (its FIN forgotten) unless
    # drop_synfin; Linux discards it there, as nonsense from a scan.
    listen_synfin: bool = False
    # FreeBSD (and Linux, for a segment ending at RCV.NXT) takes the ACK of a segment whose
    # text and FIN are all old, e.g. a repeated FIN that now acknowledges ours.
    ack_of_old_segment: bool = False
    # RFC 9293 answers any ACK in LISTEN with a RST; FreeBSD drops a SYN,ACK there unanswered.
    listen_rst_synack: bool = True
    # FreeBSD: a FIN on a SYN met in SYN-SENT is lost (only text waits for ESTABLISHED).
    simultaneous_open_drops_fin: bool = False
    wscale: int | None = None  # our window-scale shift; None derives it from rmem
    ephemeral_low: int = 32768  # net.ipv4.ip_local_port_range
    ephemeral_high: int = 60999
    congestion_control: str = "cubic"  # net.ipv4.tcp_congestion_control: "cubic" or "newreno"
    # net.ipv4.tcp_slow_start_after_idle: shrink cwnd after an idle period longer than the RTO
    slow_start_after_idle: int = 1
    # RFC 5961 section 7: challenge ACKs per connection are rate-limited, so that a blind
    # attacker's flood of RSTs and SYNs cannot make us flood the peer. Linux sends one per
    # tcp_invalid_ratelimit (ms); FreeBSD five per second (net.inet.tcp.ack_war_*). 0: no limit.
    invalid_ratelimit: int = 500
    challenge_acks_per_ratelimit: int = 1
    # Half-open connections as compact SYN-cache entries (RFC 4987 3.5) in a keyed hash
    # table of syncache_buckets buckets of at most syncache_bucket_limit entries each:
    # 512 x 30 = 15,360 in all, FreeBSD's sizes, whatever the listen backlog and
    # max_syn_backlog (at about 200 bytes an entry, some 3 MB per listener). A full bucket
    # or cache is the overflow at which syncookies=1 answers with a cookie; with
    # syncookies=0 the bucket's oldest entry goes instead. The size is what lets the cache
    # alone ride out a flood: at 50,000 SYN/s an entry lives 15,360 / 50,000 = 0.3 s,
    # longer than a client's round trip, where 128 entries last 2.5 ms and let almost
    # no client in (bench/flood.py, variants b and e). max_syn_backlog still bounds the
    # entries made full Connections by a segment they could not answer. False keeps a
    # full Connection per SYN, at most max_syn_backlog of them; a full queue drops new
    # SYNs (or answers with cookies).
    syn_cache: bool = True
    syncache_buckets: int = 512
    syncache_bucket_limit: int = 30
    # Linux's delayed-ACK timeout (ato) is zero until the first data arrives, so an ACK
    # it delays before then (of a FIN, say) leaves at the next timer tick, one jiffy on.
    delack_first_us: int = 1 * MILLISECOND
    # Linux sets PSH on every TSO/GSO frame (several segments sent as one) so that the
    # receiver's GRO flushes it at once; a segment sent alone carries PSH only if it ends
    # what was written. BSD sets PSH only on a segment that empties the send buffer.
    psh_on_tso_frames: bool = True
    # Linux: a receive buffer the user set (SO_RCVBUF) before the SYN caps the window, so
    # the window scale offered is the least that covers it; BSD derives it from sb_max.
    rcvbuf_sets_wscale: bool = True
    # getsockopt(TCP_MAXSEG) on a closed or listening socket reads the TCP_MAXSEG set
    # (Linux since 4.13); before, it read the default MSS of 536.
    maxseg_reads_user_mss: bool = True
    # net.ipv4.tcp_ecn (RFC 3168): 0 off, 1 request ECN on our SYNs and accept it,
    # 2 accept it when a peer's SYN asks (Linux's default; FreeBSD's ecn.enable alike).
    ecn: int = 2
    # SYN retransmissions that still request ECN before giving up on it (RFC 3168 6.1.1.1:
    # a middlebox may drop ECN SYNs). Linux: none; FreeBSD's net.inet.tcp.ecn.maxretries: 1.
    ecn_syn_retries: int = 0
    # Once timestamps are negotiated, take a non-RST segment without one (Linux; FreeBSD's
    # net.inet.tcp.tolerate_missing_ts=1). False drops it, as RFC 7323 3.2 says it SHOULD.
    tolerate_missing_ts: bool = True

    def __post_init__(self) -> None:
        for name in ("syn_retries", "synack_retries", "retries2", "keepalive_probes"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"{name} must be in 0..255, got {getattr(self, name)}")
        if self.rto_min_us <= 0 or self.rto_min_us > self.rto_max_us:
            raise ValueError("need 0 < rto_min_us <= rto_max_us")
        if not self.rto_min_us <= self.rto_initial_us <= self.rto_max_us:
            raise ValueError("rto_initial_us must lie between rto_min_us and rto_max_us")
        if self.syncookies not in (0, 1, 2):
            raise ValueError("syncookies must be 0, 1 or 2")
        if self.syn_option_layout not in ("linux", "freebsd"):
            raise ValueError("syn_option_layout must be 'linux' or 'freebsd'")
        if self.rmem < 1 or self.wmem < 1:
            raise ValueError("rmem and wmem must be positive")
        if self.mtu < 576:
            raise ValueError("mtu must be at least 576")
        if self.wscale is not None and not 0 <= self.wscale <= 14:
            raise ValueError("wscale must be in 0..14")
        if not 1024 <= self.ephemeral_low <= self.ephemeral_high <= 65535:
            raise ValueError("ephemeral port range must lie within 1024..65535")
        if self.congestion_control not in ALGORITHMS:
            raise ValueError(
                f"congestion_control must be one of {', '.join(ALGORITHMS)}, "
                f"got {self.congestion_control!r}"
            )
        if self.slow_start_after_idle not in (0, 1):
            raise ValueError("slow_start_after_idle must be 0 or 1")
        if self.tw_reuse not in (0, 1, 2):
            raise ValueError("tw_reuse must be 0, 1 or 2")
        if self.max_tw_buckets < 0 or self.invalid_ratelimit < 0:
            raise ValueError("max_tw_buckets and invalid_ratelimit must not be negative")
        if self.challenge_acks_per_ratelimit < 1:
            raise ValueError("challenge_acks_per_ratelimit must be at least 1")
        if self.ecn not in (0, 1, 2):
            raise ValueError("ecn must be 0, 1 or 2")
        if self.ecn_syn_retries < 0:
            raise ValueError("ecn_syn_retries must not be negative")
        if self.syncache_buckets < 1 or self.syncache_bucket_limit < 1:
            raise ValueError("syncache_buckets and syncache_bucket_limit must be positive")

    def with_changes(self, **changes: Any) -> TcpConfig:
        """A copy with some fields changed; unknown names raise TypeError."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown TcpConfig field(s): {', '.join(sorted(unknown))}")
        return replace(self, **changes)


#: What a current Linux kernel does on the wire.
LINUX = TcpConfig()

#: The RFCs' own numbers: MSL of 2 minutes (TIME-WAIT 4 minutes), RTO minimum of 1 s,
#: and the congestion control RFC 9293 requires (RFC 5681, with RFC 6582's recovery).
RFC = TcpConfig(
    timewait_len_us=2 * 120 * SECOND,
    rto_min_us=1 * SECOND,
    rto_max_us=120 * SECOND,
    rto_initial_us=1 * SECOND,
    rst_ack_on_abort=False,
    quickacks=0,
    congestion_control="newreno",
)

PROFILES: dict[str, TcpConfig] = {"linux": LINUX, "rfc": RFC}


def profile(name: str) -> TcpConfig:
    """The named profile; a clear error names the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None

"""What a packetdrill script assumes about the kernel it drives, as synack settings.

A script is written for one kernel: Linux scripts rely on ``defaults.sh`` and Linux's SYN
option layout, FreeBSD scripts on ``net.inet.tcp.*`` defaults and FreeBSD's layout. A
:class:`Profile` carries the matching :class:`TcpConfig` plus what the runner itself needs
(addresses, timing tolerance) and how to apply each sysctl a script sets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from synack.tcp.config import LINUX, MILLISECOND, SECOND, TcpConfig
from synack.tcp.congestion import ALGORITHMS


class UnsupportedSetting(Exception):
    """A sysctl (or value) synack cannot reproduce; the message names it."""


#: Applies one sysctl value to a config, returning the new config.
SysctlRule = Callable[[TcpConfig, str], TcpConfig]


def _field(name: str, scale: int = 1) -> SysctlRule:
    """A sysctl that maps one-to-one onto a TcpConfig field (optionally rescaled)."""

    def apply(config: TcpConfig, value: str) -> TcpConfig:
        return config.with_changes(**{name: int(value.split()[0]) * scale})

    return apply


def _flag(*names: str) -> SysctlRule:
    def apply(config: TcpConfig, value: str) -> TcpConfig:
        return config.with_changes(**{name: value.strip() != "0" for name in names})

    return apply


def _milliseconds_as_seconds(name: str) -> SysctlRule:
    """FreeBSD keeps keepalive times in ms; TcpConfig keeps Linux's seconds."""

    def apply(config: TcpConfig, value: str) -> TcpConfig:
        ms = int(value)
        if ms % 1000:
            raise UnsupportedSetting(f"{ms} ms is not a whole number of seconds")
        return config.with_changes(**{name: ms // 1000})

    return apply


def _delayed_ack(config: TcpConfig, value: str) -> TcpConfig:
    us = int(value) * MILLISECOND
    return config.with_changes(delack_min_us=us, delack_max_us=us)  # one fixed delay


def _middle(name: str) -> SysctlRule:
    """``tcp_rmem``/``tcp_wmem``: "min default max"; the default is the buffer size."""

    def apply(config: TcpConfig, value: str) -> TcpConfig:
        parts = value.split()
        return config.with_changes(**{name: int(parts[1] if len(parts) == 3 else parts[0])})

    return apply


def _linux_rmem(config: TcpConfig, value: str) -> TcpConfig:
    """``tcp_rmem``: the default is the buffer; the max sets the window scale we offer,
    as Linux's tcp_select_initial_window does: the least shift that fits it in 16 bits."""
    parts = value.split()
    config = _middle("rmem")(config, value)
    if len(parts) != 3:
        return config
    space, shift = int(parts[2]), 0
    while space > 0xFFFF and shift < 14:
        space >>= 1
        shift += 1
    return config.with_changes(wscale=shift)


def _only(*accepted: str) -> SysctlRule:
    """A sysctl whose accepted values describe what synack always does; others cannot be had."""

    def apply(config: TcpConfig, value: str) -> TcpConfig:
        if value.strip() not in accepted:
            raise UnsupportedSetting(f"value {value.strip()} (synack behaves as {accepted[0]})")
        return config

    return apply


def _congestion_control(config: TcpConfig, value: str) -> TcpConfig:
    """Linux calls NewReno "reno"; synack has CUBIC and NewReno only."""
    name = {"reno": "newreno"}.get(value.strip(), value.strip())
    if name not in ALGORITHMS:
        raise UnsupportedSetting(f"congestion control {value.strip()!r} (synack: cubic, reno)")
    return config.with_changes(congestion_control=name)


def _ecn(config: TcpConfig, value: str) -> TcpConfig:
    """0, 1 and 2 mean the same on Linux and FreeBSD; higher values (AccECN) are not had."""
    mode = int(value)
    if mode not in (0, 1, 2):
        raise UnsupportedSetting(f"ECN mode {mode} (synack: 0, 1 or 2)")
    return config.with_changes(ecn=mode)


LINUX_SYSCTLS: dict[str, SysctlRule] = {
    "net.ipv4.tcp_syn_retries": _field("syn_retries"),
    "net.ipv4.tcp_synack_retries": _field("synack_retries"),
    "net.ipv4.tcp_retries2": _field("retries2"),
    "net.ipv4.tcp_fin_timeout": _field("fin_timeout"),
    "net.ipv4.tcp_keepalive_time": _field("keepalive_time"),
    "net.ipv4.tcp_keepalive_intvl": _field("keepalive_intvl"),
    "net.ipv4.tcp_keepalive_probes": _field("keepalive_probes"),
    "net.ipv4.tcp_max_syn_backlog": _field("max_syn_backlog"),
    "net.core.somaxconn": _field("somaxconn"),
    "net.ipv4.tcp_syncookies": _field("syncookies"),
    "net.ipv4.tcp_abort_on_overflow": _field("abort_on_overflow"),
    "net.ipv4.tcp_tw_reuse": _field("tw_reuse"),
    "net.ipv4.tcp_max_tw_buckets": _field("max_tw_buckets"),
    "net.ipv4.tcp_rfc1337": _field("rfc1337"),
    "net.ipv4.tcp_timestamps": _flag("timestamps"),
    "net.ipv4.tcp_window_scaling": _flag("window_scaling"),
    "net.ipv4.tcp_sack": _flag("sack"),
    # synack never holds data back to build a bigger TSO frame, as a large divisor asks.
    "net.ipv4.tcp_tso_win_divisor": _only("100"),
    "net.ipv4.tcp_rmem": _linux_rmem,
    "net.ipv4.tcp_wmem": _middle("wmem"),
    "net.ipv4.tcp_ecn": _ecn,
    "net.ipv4.tcp_fastopen": _only("0"),
    "net.ipv4.tcp_congestion_control": _congestion_control,
    "net.ipv4.tcp_slow_start_after_idle": _field("slow_start_after_idle"),
}

FREEBSD_SYSCTLS: dict[str, SysctlRule] = {
    "net.inet.tcp.rfc1323": _flag("timestamps", "window_scaling"),
    "net.inet.tcp.sack.enable": _flag("sack"),
    "net.inet.tcp.recvspace": _field("rmem"),
    "net.inet.tcp.sendspace": _field("wmem"),
    "net.inet.tcp.rexmit_initial": _field("rto_initial_us", MILLISECOND),
    "net.inet.tcp.syncookies": _field("syncookies"),
    "net.inet.tcp.keepidle": _milliseconds_as_seconds("keepalive_time"),
    "net.inet.tcp.keepintvl": _milliseconds_as_seconds("keepalive_intvl"),
    "net.inet.tcp.keepcnt": _field("keepalive_probes"),
    "net.inet.tcp.delacktime": _delayed_ack,
    "net.inet.tcp.blackhole": _only("0"),
    # tcp(4): 0 off, 1 request and accept, 2 accept only (the default), as tcp_ecn.
    "net.inet.tcp.ecn.enable": _ecn,
    "net.inet.tcp.ecn.maxretries": _field("ecn_syn_retries"),
    "net.inet.tcp.tolerate_missing_ts": _flag("tolerate_missing_ts"),
    "net.inet.tcp.hostcache.purgenow": _only("1"),  # synack keeps no host cache
    "kern.ipc.maxsockbuf": _only("2097152"),
    "net.inet.tcp.rexmit_slop": _only("200"),
    "net.inet.tcp.rexmit_drop_options": _only("0"),
    "net.inet.tcp.insecure_rst": _flag("insecure_rst"),
    "net.inet.tcp.insecure_syn": _flag("insecure_syn"),
    "net.inet.tcp.drop_synfin": _flag("drop_synfin"),
    "net.inet.tcp.syncookies_only": _only("0"),
}


@dataclass(frozen=True)
class Profile:
    """A TcpConfig for the kernel a script was written for, plus runner settings."""

    name: str
    config: TcpConfig
    sysctls: dict[str, SysctlRule] = field(default_factory=dict)
    tolerance_usecs: int = 4000
    tolerance_percent: float = 12.5
    local_v4: str = "192.168.0.1"
    remote_v4: str = "192.0.2.1"
    local_v6: str = "fd3d:fa7b:d17d::1"
    remote_v6: str = "fd3d:fa7b:d17d::2"
    port: int = 8080  # what bind(..., ...) and connect(..., ...) use
    remote_port: int = 48000  # the first port the scripted peer connects from
    defines: frozenset[str] = frozenset()
    #: Data segments that leave together are seen as one (Linux's TSO/GSO on the
    #: tun device packetdrill uses): scripts expect ``P. 1:10001(10000)``.
    gso: bool = False
    #: Shell scripts (by file name) that set up what the profile already is.
    setup_commands: frozenset[str] = frozenset()
    #: FreeBSD's TCP_INFO gives tcpi_snd_cwnd in bytes; Linux's in segments.
    tcpi_cwnd_bytes: bool = False


#: gtests/net/common/defaults.sh: timestamps, SACK, initial window 10, syn_retries 5,
#: delayed ACK 40 ms, RTO min 200 ms.
LINUX_PROFILE = Profile(
    name="linux",
    config=LINUX.with_changes(sack=True, syn_retries=5, rmem=131072, wscale=8),
    sysctls=LINUX_SYSCTLS,
    setup_commands=frozenset({"defaults.sh"}),
    gso=True,
)

#: Linux as packetdrill's first published tests (the nplab+packetdrill corpus) assumed it:
#: no defaults.sh, a tcp_rmem max of at most 4 MB, so the SYN offers ``wscale 6``, no
#: PSH forced onto every TSO frame and TCP_MAXSEG read back as 536 until connected
#: (Linux changed both later).
LINUX_LEGACY_PROFILE = Profile(
    name="linux-legacy",
    config=LINUX_PROFILE.config.with_changes(
        wscale=6, psh_on_tso_frames=False, maxseg_reads_user_mss=False
    ),
    sysctls=LINUX_SYSCTLS,
    gso=True,
)

#: What the FreeBSD tcp-testsuite assumes: SYN ``win 65535 <mss 1460,nop,wscale 6,sackOK,
#: TS val 100 ecr 0>``, 64 KiB receive and 32 KiB send buffers, 100 ms delayed ACK,
#: 2 MSL of 60 s, RTO minimum 30 ms plus a 200 ms slop; and BSD's ways: the receive
#: buffer rounded to whole segments, every other segment and a FIN ACKed at once, our
#: unACKed FIN repeated on each ACK, SACK blocks sent, TIME-WAIT answering all but a
#: duplicate ACK and ignoring RSTs.
FREEBSD_PROFILE = Profile(
    name="freebsd",
    config=LINUX.with_changes(
        sack=True,
        send_sack=True,
        syn_option_layout="freebsd",
        rcvbuf_round_to_mss=True,
        ack_fin_at_once=True,
        ack_every_other_segment=True,
        repeat_fin=True,
        psh_on_tso_frames=False,
        rcvbuf_sets_wscale=False,
        timewait_acks_all=True,
        rfc1337=1,  # tcp_twcheck drops every RST in TIME-WAIT
        invalid_ratelimit=1000,  # net.inet.tcp.ack_war_timewindow
        challenge_acks_per_ratelimit=5,  # net.inet.tcp.ack_war_cnt
        rmem=65536,
        wmem=32768,
        wscale=6,
        rst_ack_on_abort=False,
        delack_min_us=100 * MILLISECOND,
        delack_max_us=100 * MILLISECOND,
        quickacks=0,
        timewait_len_us=60 * SECOND,
        rto_min_us=230 * MILLISECOND,
        synack_retries=3,
        listen_synfin=True,
        ack_of_old_segment=True,
        listen_rst_synack=False,
        simultaneous_open_drops_fin=True,
        congestion_control="cubic",  # FreeBSD's default since 14.0; every script passes
        ecn_syn_retries=1,  # net.inet.tcp.ecn.maxretries
    ),
    sysctls=FREEBSD_SYSCTLS,
    defines=frozenset({"FreeBSD"}),
    tcpi_cwnd_bytes=True,
)

#: FreeBSD as packetdrill's own ``tests/bsd`` scripts (written around FreeBSD 10) found
#: it: a SYN,ACK at a listener still drew a RST, as RFC 9293 says.
FREEBSD_LEGACY_PROFILE = Profile(
    name="freebsd-legacy",
    config=FREEBSD_PROFILE.config.with_changes(listen_rst_synack=True),
    sysctls=FREEBSD_SYSCTLS,
    defines=frozenset({"FreeBSD"}),
    tcpi_cwnd_bytes=True,
)

PROFILES = {
    "linux": LINUX_PROFILE,
    "linux-legacy": LINUX_LEGACY_PROFILE,
    "freebsd": FREEBSD_PROFILE,
    "freebsd-legacy": FREEBSD_LEGACY_PROFILE,
}


def pick_profile(name: str, path: str | Path | None = None, text: str = "") -> Profile:
    """The named profile; ``auto`` reads the path and the script's sysctls to decide."""
    if name != "auto":
        try:
            return PROFILES[name]
        except KeyError:
            raise ValueError(
                f"unknown profile {name!r}; known: auto, {', '.join(PROFILES)}"
            ) from None
    where = str(path or "").lower()
    if "/packetdrill/tests/bsd/" in where:  # packetdrill's own FreeBSD examples
        return FREEBSD_LEGACY_PROFILE
    if "freebsd" in where or "net.inet." in text:
        return FREEBSD_PROFILE
    if "nplab+packetdrill" in where:
        return LINUX_LEGACY_PROFILE
    return LINUX_PROFILE

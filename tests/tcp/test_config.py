"""TcpConfig: profiles, validation and with_changes."""

from __future__ import annotations

import dataclasses

import pytest

from synack.tcp.config import LINUX, RFC, SECOND, TcpConfig, profile

MS = 1_000


def test_default_is_linux() -> None:
    assert TcpConfig() == LINUX
    assert profile("linux") is LINUX


def test_linux_profile_values() -> None:
    cfg = profile("linux")
    assert cfg.timewait_len_us == 60 * SECOND
    assert cfg.rto_min_us == 200 * MS
    assert cfg.rto_max_us == 120 * SECOND
    assert cfg.rto_initial_us == 1 * SECOND
    assert cfg.syn_retries == 6
    assert cfg.synack_retries == 5
    assert cfg.retries2 == 15
    assert cfg.fin_timeout == 60
    assert (cfg.keepalive_time, cfg.keepalive_intvl, cfg.keepalive_probes) == (7200, 75, 9)
    assert cfg.syncookies == 1
    assert cfg.tw_reuse == 2
    assert cfg.rfc1337 == 0
    assert cfg.abort_on_overflow == 0
    assert cfg.initial_cwnd == 10
    assert (cfg.mss_default_v4, cfg.mss_default_v6) == (536, 1220)
    assert (cfg.delack_min_us, cfg.delack_max_us) == (40 * MS, 200 * MS)
    assert (cfg.ephemeral_low, cfg.ephemeral_high) == (32768, 60999)


def test_rfc_profile_values() -> None:
    cfg = profile("rfc")
    assert cfg is RFC
    assert cfg.timewait_len_us == 240 * SECOND  # 2 MSL, MSL = 2 minutes
    assert cfg.rto_min_us == 1 * SECOND
    assert cfg.rto_initial_us == 1 * SECOND
    assert cfg.rto_max_us >= 60 * SECOND  # RFC 6298 (2.5): a maximum of at least 60 s


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="linux") as info:
        profile("solaris")
    assert "solaris" in str(info.value)


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        LINUX.syn_retries = 3  # type: ignore[misc]


def test_with_changes_copies() -> None:
    cfg = LINUX.with_changes(syn_retries=2, fin_timeout=30)
    assert (cfg.syn_retries, cfg.fin_timeout) == (2, 30)
    assert LINUX.syn_retries == 6  # the profile itself is untouched
    assert cfg.with_changes() == cfg


def test_with_changes_rejects_unknown_names() -> None:
    with pytest.raises(TypeError, match="tcp_syn_retries"):
        LINUX.with_changes(tcp_syn_retries=3)
    with pytest.raises(TypeError, match="bogus"):
        LINUX.with_changes(syn_retries=3, bogus=1)


def test_with_changes_validates() -> None:
    with pytest.raises(ValueError, match="syn_retries"):
        LINUX.with_changes(syn_retries=-1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"syn_retries": 256}, "syn_retries"),
        ({"ecn": 3}, "ecn must be"),
        ({"ecn_syn_retries": -1}, "ecn_syn_retries"),
        ({"synack_retries": -1}, "synack_retries"),
        ({"retries2": 1000}, "retries2"),
        ({"keepalive_probes": 300}, "keepalive_probes"),
        ({"rto_min_us": 0}, "rto_min_us"),
        ({"rto_min_us": 200 * SECOND}, "rto_min_us"),
        ({"rto_initial_us": 100 * MS}, "rto_initial_us"),
        ({"rto_initial_us": 121 * SECOND}, "rto_initial_us"),
        ({"syncookies": 3}, "syncookies"),
        ({"syn_option_layout": "windows"}, "syn_option_layout"),
        ({"rmem": 0}, "rmem"),
        ({"wmem": 0}, "wmem"),
        ({"mtu": 575}, "mtu"),
        ({"wscale": 15}, "wscale"),
        ({"wscale": -1}, "wscale"),
        ({"ephemeral_low": 1023}, "ephemeral"),
        ({"ephemeral_high": 65536}, "ephemeral"),
        ({"ephemeral_low": 50000, "ephemeral_high": 40000}, "ephemeral"),
    ],
)
def test_invalid_values_raise(changes: dict[str, int | str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TcpConfig(**changes)  # type: ignore[arg-type]


def test_boundary_values_accepted() -> None:
    cfg = TcpConfig(
        syn_retries=0,
        retries2=255,
        wscale=14,
        mtu=576,
        rto_min_us=1 * SECOND,
        rto_initial_us=1 * SECOND,
        ephemeral_low=1024,
        ephemeral_high=1024,
    )
    assert cfg.wscale == 14
    assert TcpConfig(wscale=0).wscale == 0

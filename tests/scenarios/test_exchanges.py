"""Each scenario of SCENARIOS.md asserted as its exact segment exchange and state paths.

Each row is (sent at ms, direction, flags, relative seq, relative ack, payload length,
tag) where tag is "" (delivered), "lost" (never arrived), "inj" (crafted by the
scenario) or "rtx" (a retransmission). State paths are keyed host:local-remote port.
The seed is fixed, so ephemeral ports and timings are exact.
"""

from __future__ import annotations

import pytest

from synack.scenarios.catalog import Options, find
from synack.scenarios.world import World


def rows(world: World) -> list[tuple[int, str, str, int, int, int, str]]:
    out = []
    for rec, ex in zip(world.trace.segments, world.trace.exchange(), strict=True):
        if rec.arrive_us is None:
            tag = "lost"
        elif rec.injected:
            tag = "inj"
        elif rec.retransmission:
            tag = "rtx"
        else:
            tag = ""
        out.append((rec.sent_us // 1000, *ex, tag))
    return out


def paths(world: World) -> dict[str, str]:
    found: dict[str, list[str]] = {}
    for st in world.trace.states:
        key = f"{st.host}:{st.local_port}-{st.remote_port}"
        found.setdefault(key, [str(st.old)]).append(str(st.new))
    return {k: " > ".join(v) for k, v in found.items()}


EXPECTED = {
    "sim-open-reset": [
        (0, "A>B", "SYN", 0, 0, 0, "lost"),
        (1, "B>A", "SYN", 0, 0, 0, "inj"),
        (1, "A>B", "SYN,ACK", 0, 1, 0, "lost"),
        (11, "B>A", "RST", 1, 0, 0, "inj"),
    ],
    "time-wait-reopen": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "B>A", "FIN,ACK", 1, 1, 0, ""),
        (40, "A>B", "FIN,ACK", 1, 2, 0, ""),
        (50, "B>A", "ACK", 2, 2, 0, ""),
        (5040, "A>B", "SYN", 1260000, 0, 0, ""),
        (5050, "B>A", "SYN,ACK", 65539, 1260001, 0, ""),
        (5060, "A>B", "ACK", 1260001, 65540, 0, ""),
    ],
    "user-timeout": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "PSH,ACK", 1, 1, 13, ""),
        (1230, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (1630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (2430, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (4030, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
    ],
    "data-timeout": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "PSH,ACK", 1, 1, 13, ""),
        (1230, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (1630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (2430, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (4030, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (7230, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (13630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (26430, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (52030, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (103230, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (205630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (325630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (445630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (565630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (685630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
        (805630, "A>B", "PSH,ACK", 1, 1, 13, "rtx"),
    ],
    "handshake": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
    ],
    "close-client-first": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "A>B", "PSH,ACK", 1, 1, 18, ""),
        (40, "B>A", "ACK", 1, 19, 0, ""),
        (40, "B>A", "PSH,ACK", 1, 19, 19, ""),
        (50, "A>B", "ACK", 19, 20, 0, ""),
        (1050, "A>B", "FIN,ACK", 19, 20, 0, ""),
        (1100, "B>A", "ACK", 20, 20, 0, ""),
        (1560, "B>A", "PSH,ACK", 20, 20, 3, ""),
        (1570, "A>B", "ACK", 20, 23, 0, ""),
        (2070, "B>A", "FIN,ACK", 23, 20, 0, ""),
        (2080, "A>B", "ACK", 20, 24, 0, ""),
    ],
    "close-server-first": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "A>B", "PSH,ACK", 1, 1, 7, ""),
        (40, "B>A", "ACK", 1, 8, 0, ""),
        (40, "B>A", "PSH,ACK", 1, 8, 8, ""),
        (40, "B>A", "FIN,ACK", 9, 8, 0, ""),
        (50, "A>B", "ACK", 8, 9, 0, ""),
        (90, "A>B", "ACK", 8, 10, 0, ""),
        (550, "A>B", "FIN,ACK", 8, 10, 0, ""),
        (560, "B>A", "ACK", 10, 9, 0, ""),
    ],
    "fin-ack-together": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (1040, "B>A", "FIN,ACK", 1, 2, 0, ""),
        (1050, "A>B", "ACK", 2, 2, 0, ""),
    ],
    "simultaneous-close": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (1030, "B>A", "FIN,ACK", 1, 1, 0, ""),
        (1040, "B>A", "ACK", 2, 2, 0, ""),
        (1040, "A>B", "ACK", 2, 2, 0, ""),
    ],
    "simultaneous-open": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (0, "B>A", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (10, "A>B", "SYN,ACK", 0, 1, 0, ""),
        (1000, "A>B", "PSH,ACK", 1, 1, 12, ""),
        (1010, "B>A", "ACK", 1, 13, 0, ""),
    ],
    "lost-last-ack": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (1041, "B>A", "ACK", 1, 2, 0, ""),
        (1140, "B>A", "FIN,ACK", 1, 2, 0, ""),
        (1150, "A>B", "ACK", 2, 2, 0, "lost"),
        (1340, "B>A", "FIN,ACK", 1, 2, 0, "rtx"),
        (1350, "A>B", "ACK", 2, 2, 0, ""),
    ],
    "old-duplicate-syn": [
        (1, "A>B", "SYN", 0, 0, 0, "inj"),
        (1, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (11, "A>B", "RST", 1, 0, 0, ""),
        (1000, "A>B", "SYN", 0, 0, 0, "lost"),
        (1001, "A>B", "SYN", 4294966296, 0, 0, "inj"),
        (1001, "B>A", "SYN,ACK", 0, 4294966297, 0, ""),
        (1011, "A>B", "RST", 4294966297, 0, 0, ""),
        (2000, "A>B", "SYN", 0, 0, 0, "rtx"),
        (2010, "B>A", "SYN,ACK", 252250, 1, 0, ""),
        (2020, "A>B", "ACK", 1, 252251, 0, ""),
    ],
    "refused": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "RST,ACK", 0, 1, 0, ""),
    ],
    "abort": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "A>B", "PSH,ACK", 1, 1, 5, ""),
        (40, "B>A", "ACK", 1, 6, 0, ""),
        (40, "A>B", "RST,ACK", 6, 1, 0, ""),
        (50, "A>B", "RST", 6, 0, 0, ""),
    ],
    "half-open-peer-crash": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (3601030, "A>B", "PSH,ACK", 1, 1, 13, ""),
        (3601040, "B>A", "RST", 1, 0, 0, ""),
    ],
    "fin-wait-2-timeout": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (1041, "B>A", "ACK", 1, 2, 0, ""),
    ],
    "fin-wait-2-shutdown": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (1041, "B>A", "ACK", 1, 2, 0, ""),
    ],
    "reuseaddr": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "B>A", "FIN,ACK", 1, 1, 0, ""),
        (40, "A>B", "FIN,ACK", 1, 2, 0, ""),
        (50, "B>A", "ACK", 2, 2, 0, ""),
        (1040, "A>B", "SYN", 0, 0, 0, ""),
        (1050, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (1060, "A>B", "ACK", 1, 1, 0, ""),
    ],
    "client-port-reuse": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (40, "B>A", "FIN,ACK", 1, 2, 0, ""),
        (50, "A>B", "ACK", 2, 2, 0, ""),
        (1040, "A>B", "SYN", 0, 0, 0, ""),
        (1050, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (1060, "A>B", "ACK", 1, 1, 0, ""),
        (1070, "A>B", "FIN,ACK", 1, 1, 0, ""),
        (1080, "B>A", "FIN,ACK", 1, 2, 0, ""),
        (1090, "A>B", "ACK", 2, 2, 0, ""),
    ],
    "blind-rst": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "B>A", "RST", 1001, 0, 0, "inj"),
        (1030, "A>B", "ACK", 1, 1, 0, ""),
        (1530, "B>A", "SYN", 6, 0, 0, "inj"),
        (1530, "A>B", "ACK", 1, 1, 0, ""),
        (2030, "B>A", "RST", 1, 0, 0, "inj"),
    ],
    "syn-rcvd-rst": [
        (1, "A>B", "SYN", 0, 0, 0, "inj"),
        (1, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (11, "A>B", "RST", 1, 0, 0, ""),
        (1000, "A>B", "SYN", 0, 0, 0, ""),
        (1010, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (1020, "A>B", "ACK", 1, 1, 0, ""),
    ],
    "close-in-syn-rcvd": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (10, "B>A", "FIN,ACK", 1, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (21, "A>B", "ACK", 1, 2, 0, ""),
        (510, "A>B", "FIN,ACK", 1, 2, 0, ""),
        (520, "B>A", "ACK", 2, 2, 0, ""),
    ],
    "close-in-syn-sent": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "RST", 1, 0, 0, ""),
    ],
    "listen-send": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "PSH,ACK", 1, 1, 5, ""),
        (30, "B>A", "ACK", 1, 6, 0, ""),
    ],
    "life": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "A>B", "PSH,ACK", 1, 1, 18, ""),
        (40, "B>A", "ACK", 1, 19, 0, ""),
        (140, "B>A", "PSH,ACK", 1, 19, 24, ""),
        (150, "A>B", "ACK", 19, 25, 0, ""),
        (250, "A>B", "FIN,ACK", 19, 25, 0, ""),
        (300, "B>A", "ACK", 25, 20, 0, ""),
        (360, "B>A", "FIN,ACK", 25, 20, 0, ""),
        (370, "A>B", "ACK", 20, 26, 0, ""),
    ],
    "keepalive-rebooted-peer": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (7200020, "A>B", "ACK", 0, 1, 0, ""),
        (7200030, "B>A", "RST", 1, 0, 0, ""),
    ],
    "push": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (1030, "A>B", "PSH,ACK", 1, 1, 4, ""),
        (1040, "B>A", "ACK", 1, 5, 0, ""),
    ],
    "urgent": [
        (0, "A>B", "SYN", 0, 0, 0, ""),
        (10, "B>A", "SYN,ACK", 0, 1, 0, ""),
        (20, "A>B", "ACK", 1, 1, 0, ""),
        (30, "A>B", "PSH,ACK", 1, 1, 7, ""),
        (40, "B>A", "ACK", 1, 8, 0, ""),
        (540, "A>B", "PSH,ACK,URG", 8, 1, 6, "inj"),
        (540, "B>A", "ACK", 1, 14, 0, ""),
        (550, "A>B", "ACK", 8, 1, 0, ""),
        (560, "B>A", "ACK", 1, 14, 0, ""),
        (570, "A>B", "ACK", 8, 1, 0, ""),
        (580, "B>A", "ACK", 1, 14, 0, ""),
        (590, "A>B", "ACK", 8, 1, 0, ""),
        (600, "B>A", "ACK", 1, 14, 0, ""),
        (610, "A>B", "ACK", 8, 1, 0, ""),
        (620, "B>A", "ACK", 1, 14, 0, ""),
        (630, "A>B", "ACK", 8, 1, 0, ""),
        (640, "B>A", "ACK", 1, 14, 0, ""),
        (650, "A>B", "ACK", 8, 1, 0, ""),
        (660, "B>A", "ACK", 1, 14, 0, ""),
        (670, "A>B", "ACK", 8, 1, 0, ""),
        (680, "B>A", "ACK", 1, 14, 0, ""),
        (690, "A>B", "ACK", 8, 1, 0, ""),
        (700, "B>A", "ACK", 1, 14, 0, ""),
        (710, "A>B", "ACK", 8, 1, 0, ""),
        (720, "B>A", "ACK", 1, 14, 0, ""),
        (730, "A>B", "ACK", 8, 1, 0, ""),
        (740, "B>A", "ACK", 1, 14, 0, ""),
        (750, "A>B", "ACK", 8, 1, 0, ""),
        (760, "B>A", "ACK", 1, 14, 0, ""),
        (770, "A>B", "ACK", 8, 1, 0, ""),
        (780, "B>A", "ACK", 1, 14, 0, ""),
        (790, "A>B", "ACK", 8, 1, 0, ""),
        (800, "B>A", "ACK", 1, 14, 0, ""),
        (810, "A>B", "ACK", 8, 1, 0, ""),
        (820, "B>A", "ACK", 1, 14, 0, ""),
        (830, "A>B", "ACK", 8, 1, 0, ""),
        (840, "B>A", "ACK", 1, 14, 0, ""),
        (850, "A>B", "ACK", 8, 1, 0, ""),
        (860, "B>A", "ACK", 1, 14, 0, ""),
        (870, "A>B", "ACK", 8, 1, 0, ""),
        (880, "B>A", "ACK", 1, 14, 0, ""),
        (890, "A>B", "ACK", 8, 1, 0, ""),
        (900, "B>A", "ACK", 1, 14, 0, ""),
        (910, "A>B", "ACK", 8, 1, 0, ""),
        (920, "B>A", "ACK", 1, 14, 0, ""),
        (930, "A>B", "ACK", 8, 1, 0, ""),
        (940, "B>A", "ACK", 1, 14, 0, ""),
        (950, "A>B", "ACK", 8, 1, 0, ""),
        (960, "B>A", "ACK", 1, 14, 0, ""),
        (970, "A>B", "ACK", 8, 1, 0, ""),
        (980, "B>A", "ACK", 1, 14, 0, ""),
        (990, "A>B", "ACK", 8, 1, 0, ""),
        (1000, "B>A", "ACK", 1, 14, 0, ""),
        (1010, "A>B", "ACK", 8, 1, 0, ""),
        (1020, "B>A", "ACK", 1, 14, 0, ""),
        (1030, "A>B", "ACK", 8, 1, 0, ""),
        (1040, "B>A", "ACK", 1, 14, 0, ""),
    ],
}
PATHS = {
    "sim-open-reset": {
        "A:5001-6001": "CLOSED > SYN_SENT > SYN_RCVD > CLOSED",
    },
    "time-wait-reopen": {
        "B:80-0": "CLOSED > LISTEN",
        "A:7002-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-7002": "LISTEN > SYN_RCVD > ESTABLISHED > FIN_WAIT_1 > TIME_WAIT > SYN_RCVD > ESTABLISHED",
    },
    "user-timeout": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "data-timeout": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "handshake": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "close-client-first": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
    },
    "close-server-first": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED",
    },
    "fin-ack-together": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > TIME_WAIT > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
    },
    "simultaneous-close": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > CLOSING > TIME_WAIT > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > FIN_WAIT_1 > CLOSING > TIME_WAIT > CLOSED",
    },
    "simultaneous-open": {
        "A:5000-6000": "CLOSED > SYN_SENT > SYN_RCVD > ESTABLISHED",
        "B:6000-5000": "CLOSED > SYN_SENT > SYN_RCVD > ESTABLISHED",
    },
    "lost-last-ack": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
    },
    "old-duplicate-syn": {
        "B:80-0": "CLOSED > LISTEN",
        "B:80-40000": "LISTEN > SYN_RCVD > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-49220": "LISTEN > SYN_RCVD > LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "refused": {
        "A:49220-81": "CLOSED > SYN_SENT > CLOSED",
    },
    "abort": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSED",
    },
    "half-open-peer-crash": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "fin-wait-2-timeout": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT",
    },
    "fin-wait-2-shutdown": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT",
    },
    "reuseaddr": {
        "B:80-0": "CLOSED > LISTEN > CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > FIN_WAIT_1 > TIME_WAIT",
        "A:46370-80": "CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-46370": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "client-port-reuse": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > TIME_WAIT",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
        "A:46370-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > TIME_WAIT",
        "B:80-46370": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
    },
    "blind-rst": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "syn-rcvd-rst": {
        "B:80-0": "CLOSED > LISTEN",
        "B:80-41000": "LISTEN > SYN_RCVD > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "close-in-syn-rcvd": {
        "B:80-7000": "CLOSED > LISTEN > SYN_RCVD > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED",
        "A:7000-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
    },
    "close-in-syn-sent": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > LISTEN",
    },
    "listen-send": {
        "B:80-0": "CLOSED > LISTEN",
        "A:7001-80": "CLOSED > LISTEN > SYN_SENT > ESTABLISHED",
        "B:80-7001": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "life": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > FIN_WAIT_1 > FIN_WAIT_2 > TIME_WAIT > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED > CLOSE_WAIT > LAST_ACK > CLOSED",
    },
    "keepalive-rebooted-peer": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED > CLOSED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "push": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
    "urgent": {
        "B:80-0": "CLOSED > LISTEN",
        "A:49220-80": "CLOSED > SYN_SENT > ESTABLISHED",
        "B:80-49220": "LISTEN > SYN_RCVD > ESTABLISHED",
    },
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_exchange(name: str) -> None:
    world = find(name).run(Options())
    assert rows(world) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(PATHS))
def test_state_paths(name: str) -> None:
    world = find(name).run(Options())
    assert paths(world) == PATHS[name]
    for stack in world.stacks.values():
        assert stack.counters["SynackInternalErrors"] == 0

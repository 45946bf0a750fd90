"""The eleven connection states of RFC 9293 figure 5."""

from __future__ import annotations

from enum import Enum


class State(Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN_SENT"
    SYN_RCVD = "SYN_RCVD"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN_WAIT_1"
    FIN_WAIT_2 = "FIN_WAIT_2"
    CLOSE_WAIT = "CLOSE_WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST_ACK"
    TIME_WAIT = "TIME_WAIT"

    def __str__(self) -> str:
        return self.value

    # Identity hashing: membership tests such as ``state in SYNCHRONIZED`` run per segment,
    # and Enum's own __hash__ is Python code.
    __hash__ = object.__hash__


#: States in which both ISNs are known (RFC 9293 "synchronized states").
SYNCHRONIZED = frozenset(
    {
        State.ESTABLISHED,
        State.FIN_WAIT_1,
        State.FIN_WAIT_2,
        State.CLOSE_WAIT,
        State.CLOSING,
        State.LAST_ACK,
        State.TIME_WAIT,
    }
)

#: States in which the user may still queue data for sending.
CAN_SEND = frozenset({State.ESTABLISHED, State.CLOSE_WAIT})

#: States in which data from the peer may still arrive.
CAN_RECEIVE = frozenset({State.ESTABLISHED, State.FIN_WAIT_1, State.FIN_WAIT_2})

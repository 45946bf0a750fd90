"""A deterministic discrete-event network that drives sans-I/O stacks.

One heap holds every future event (packet arrivals, host deadlines, user callbacks);
the clock jumps from one to the next, so idle time costs nothing. Ties in time are
broken by insertion order, and all randomness comes from per-link generators seeded
from the network seed, so one seed always gives the same run, bit for bit.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from heapq import heappop, heappush
from typing import Any

from synack.sim.clock import VirtualClock
from synack.sim.events import (
    DELIVERED,
    DROPPED,
    FATES,
    KIND_CALL,
    KIND_DELIVER,
    KIND_INJECT,
    KIND_TIMER,
    NO_ROUTE,
    PacketEvent,
)
from synack.sim.host import Host, StackLike
from synack.sim.link import Link, LinkConfig

DropMatch = Callable[[str, str, bytes], bool]
"""A scripted-fault predicate: (src host name, dst host name, packet) -> drop it?"""


class _DropRule:
    """A `Network.drop` rule with the number of packets it may still drop."""

    __slots__ = ("match", "remaining")

    def __init__(self, match: DropMatch, remaining: int) -> None:
        self.match = match
        self.remaining = remaining


def _destination(packet: bytes) -> bytes | None:
    """The raw destination address of an IP packet, or None if it has no valid header."""
    if not packet:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        return packet[16:20]
    if version == 6 and len(packet) >= 40:
        return packet[24:40]
    return None


class Network:
    """Hosts joined by impaired links, run by one event heap on a virtual clock."""

    def __init__(self, seed: int = 0, *, record: bool = False) -> None:
        self.seed = seed
        self._clock = VirtualClock()
        self._heap: list[tuple[int, int, int, Any, Any]] = []
        self._seq = itertools.count()
        self._hosts: dict[str, Host] = {}
        self._owners: dict[bytes, Host] = {}
        self._links: dict[tuple[str, str], Link] = {}
        self._rules: list[_DropRule] = []
        self._observers: list[Callable[[PacketEvent], None]] = []
        self._record = record
        self._no_route = 0
        self._injected = 0
        self.events: list[PacketEvent] = []
        """Every PacketEvent, in the order decided; filled only with record=True."""

    # -- topology -------------------------------------------------------------------

    @property
    def now(self) -> int:
        """Current virtual time in microseconds."""
        return self._clock.now

    @property
    def clock(self) -> VirtualClock:
        return self._clock

    @property
    def hosts(self) -> dict[str, Host]:
        """Hosts by name (a copy: add hosts with `add_host`)."""
        return dict(self._hosts)

    def add_host(self, name: str, addresses: Iterable[bytes | str], stack: StackLike) -> Host:
        """Attach a stack under a unique name and addresses, and arm its first deadline."""
        if name in self._hosts:
            raise ValueError(f"a host named {name!r} already exists")
        host = Host(name, addresses, stack)
        for address in host.addresses:
            owner = self._owners.get(address)
            if owner is not None:
                raise ValueError(f"address {address.hex()} of {name!r} belongs to {owner.name!r}")
        self._hosts[name] = host
        for address in host.addresses:
            self._owners[address] = host
        self._service(host)
        return host

    def host(self, name: str) -> Host:
        return self._hosts[name]

    def connect(
        self, a: Host, b: Host, config: LinkConfig | None = None, back: LinkConfig | None = None
    ) -> tuple[Link, Link]:
        """Join two hosts with a link each way; `back` (b to a) defaults to `config`."""
        self._check_host(a)
        self._check_host(b)
        if a is b:
            raise ValueError(f"cannot connect host {a.name!r} to itself")
        if (a.name, b.name) in self._links:
            raise ValueError(f"hosts {a.name!r} and {b.name!r} are already connected")
        if config is None:
            config = LinkConfig()
        if back is None:
            back = config
        return self._add_link(a, b, config), self._add_link(b, a, back)

    def link(self, src: Host, dst: Host) -> Link:
        """The directed link from `src` to `dst` (KeyError if they are not connected)."""
        return self._links[(src.name, dst.name)]

    def _add_link(self, src: Host, dst: Host, config: LinkConfig) -> Link:
        # String seeds hash deterministically (sha512), unlike hash() of a str.
        rng = random.Random(f"{self.seed}/{src.name}->{dst.name}")
        link = Link(src, dst, config, rng, self._heap, self._seq)
        link._report = self._report if self._tracing else None
        self._links[(src.name, dst.name)] = link
        for address in dst.addresses:
            src._routes[address] = link
        return link

    def _check_host(self, host: Host) -> None:
        if self._hosts.get(host.name) is not host:
            raise ValueError(f"{host!r} is not a host of this network")

    # -- observation ----------------------------------------------------------------

    @property
    def _tracing(self) -> bool:
        return self._record or bool(self._observers)

    def observe(self, callback: Callable[[PacketEvent], None]) -> None:
        """Call `callback` with every PacketEvent from now on."""
        self._observers.append(callback)
        for link in self._links.values():
            link._report = self._report

    def _report(self, event: PacketEvent) -> None:
        if self._record:
            self.events.append(event)
        for observer in self._observers:
            observer(event)

    def fate_counts(self) -> dict[str, int]:
        """Packets per fate over the whole network (injected ones count as delivered)."""
        totals = dict.fromkeys(FATES, 0)
        for link in self._links.values():
            for fate, n in link.counts.items():
                totals[fate] += n
        totals[NO_ROUTE] += self._no_route
        totals[DELIVERED] += self._injected
        return totals

    # -- driving stacks -------------------------------------------------------------

    def call_at(self, time_us: int, fn: Callable[[], None]) -> None:
        """Run `fn()` at virtual time `time_us` (after events already queued for then)."""
        if time_us < self._clock.now:
            raise ValueError(f"call_at({time_us}) is in the past (now is {self._clock.now})")
        heappush(self._heap, (time_us, next(self._seq), KIND_CALL, fn, None))

    def kick(self, host: Host) -> None:
        """Send what `host`'s stack has queued and re-arm its deadline.

        The API layer calls this after every user call on the stack (connect, send...),
        since only the network knows when to drain it. A crashed host sends nothing.
        """
        if not host._crashed:
            self._service(host)

    def _service(self, host: Host) -> None:
        """Drain the stack's output onto links, then re-arm its deadline if it moved."""
        stack = host.stack
        packets = stack.transmit()
        if packets:
            self._send(host, packets)
        deadline = stack.next_deadline()
        if deadline != host._deadline:
            self._rearm(host, deadline)

    def _rearm(self, host: Host, deadline: int | None) -> None:
        """Replace the host's timer entry (the old one goes stale) by one at ``deadline``."""
        host._deadline = deadline
        host._timer_gen += 1
        if deadline is not None:
            now = self._clock.now
            heappush(
                self._heap,
                (
                    deadline if deadline > now else now,
                    next(self._seq),
                    KIND_TIMER,
                    host,
                    host._timer_gen,
                ),
            )

    def _send(self, host: Host, packets: list[bytes]) -> None:
        routes = host._routes
        now = self._clock._now
        for packet in packets:
            # Only the destination bytes are read; the rest is the stacks' business.
            version = packet[0] >> 4 if packet else 0
            if version == 4:
                link = routes.get(packet[16:20])
            elif version == 6:
                link = routes.get(packet[24:40])
            else:
                link = None
            if link is None:
                self._unroutable(host, packet, now)
            elif self._rules and self._apply_rules(link, packet):
                link.discard(packet, now, DROPPED)
            else:
                link.send(packet, now)

    def _unroutable(self, host: Host, packet: bytes, now: int) -> None:
        self._no_route += 1
        if self._tracing:
            address = _destination(packet)
            owner = self._owners.get(address) if address is not None else None
            dst = owner.name if owner is not None else None
            self._report(PacketEvent(now, None, host.name, dst, packet, NO_ROUTE))

    def _apply_rules(self, link: Link, packet: bytes) -> bool:
        # Every rule sees every packet, so stateful matchers (drop_nth) count exactly.
        dropped = False
        src, dst = link.src.name, link.dst.name
        for rule in tuple(self._rules):
            if rule.match(src, dst, packet):
                dropped = True
                rule.remaining -= 1
                if rule.remaining == 0:
                    self._rules.remove(rule)
        return dropped

    # -- scripted faults ------------------------------------------------------------

    def drop(self, match: DropMatch, count: int = 1) -> None:
        """Drop the next `count` routed packets for which match(src, dst, packet) holds.

        Every active rule is asked about every routed packet (before any impairment);
        a packet matched by several rules is dropped once and uses up one drop of each.
        """
        if count < 1:
            raise ValueError(f"drop count must be >= 1, got {count}")
        self._rules.append(_DropRule(match, count))

    def drop_nth(self, src: Host, dst: Host, n: int, count: int = 1) -> None:
        """Drop the n-th packet (1-based, counted from now) from src to dst, and the
        `count - 1` packets after it."""
        if n < 1:
            raise ValueError(f"drop_nth n is 1-based and must be >= 1, got {n}")
        src_name, dst_name = src.name, dst.name
        seen = 0

        def match(s: str, d: str, _packet: bytes) -> bool:
            nonlocal seen
            if s == src_name and d == dst_name:
                seen += 1
                return seen >= n
            return False

        self.drop(match, count)

    def inject(self, at_us: int, src: Host | str, dst: Host, packet: bytes) -> None:
        """Deliver a crafted packet to `dst` at `at_us`, bypassing links and rules.

        `src` only names the sender in the PacketEvent (it may be an invented attacker);
        the event is reported when the packet arrives, keeping traces in time order.
        """
        self._check_host(dst)
        if at_us < self._clock.now:
            raise ValueError(f"inject at {at_us} is in the past (now is {self._clock.now})")
        src_name = src if isinstance(src, str) else src.name
        heappush(self._heap, (at_us, next(self._seq), KIND_INJECT, dst, (src_name, packet)))

    def partition(self, a: Host, b: Host) -> None:
        """Lose every packet between a and b, both ways, until `heal`."""
        self._set_partitioned(a, b, True)

    def heal(self, a: Host, b: Host) -> None:
        """Undo `partition`; packets already lost stay lost."""
        self._set_partitioned(a, b, False)

    def _set_partitioned(self, a: Host, b: Host, value: bool) -> None:
        try:
            there, back = self._links[(a.name, b.name)], self._links[(b.name, a.name)]
        except KeyError:
            raise ValueError(f"hosts {a.name!r} and {b.name!r} are not connected") from None
        there.partitioned = back.partitioned = value

    def crash(self, host: Host) -> None:
        """Make `host` swallow every arrival and send nothing, its timers dead."""
        self._check_host(host)
        host._crashed = True
        host._deadline = None
        host._timer_gen += 1

    def restart(self, host: Host, new_stack: StackLike) -> None:
        """Bring `host` back with a fresh stack that remembers nothing (crashing it
        first if it is up). Packets still in flight reach the new stack."""
        self.crash(host)
        host.stack = new_stack
        host._crashed = False
        self._service(host)

    # -- running --------------------------------------------------------------------

    def _next_time(self) -> int | None:
        """Time of the next live event, discarding stale timer entries on the way."""
        heap = self._heap
        while heap:
            entry = heap[0]
            if entry[2] == KIND_TIMER and entry[4] != entry[3]._timer_gen:
                heappop(heap)
                continue
            return entry[0]
        return None

    def step(self) -> bool:
        """Process the next event, jumping the clock to it; False if none is left."""
        heap = self._heap
        clock = self._clock
        while heap:
            time_us, _, kind, target, payload = heappop(heap)
            if kind == KIND_DELIVER:
                # The heap never yields a time before now (arrivals are scheduled ahead,
                # call_at and inject refuse the past), so the clock moves without a check.
                clock._now = time_us
                if not target._crashed:
                    stack = target.stack
                    stack.receive(payload, time_us)
                    # _service(target), inline: once per packet delivered.
                    packets = stack.transmit()
                    if packets:
                        self._send(target, packets)
                    deadline = stack.next_deadline()
                    if deadline != target._deadline:
                        self._rearm(target, deadline)
                return True
            if kind == KIND_TIMER:
                if payload != target._timer_gen:
                    continue  # superseded deadline
                clock.advance_to(time_us)
                target._deadline = None
                target.stack.advance(time_us)
                self._service(target)
                return True
            clock.advance_to(time_us)
            if kind == KIND_CALL:
                target()
            else:  # KIND_INJECT
                src_name, packet = payload
                self._injected += 1
                if self._tracing:
                    self._report(
                        PacketEvent(
                            time_us, time_us, src_name, target.name, packet, DELIVERED, True
                        )
                    )
                if not target._crashed:
                    target.stack.receive(packet, time_us)
                    self._service(target)
            return True
        return False

    def run(self, until: int | None = None, max_events: int = 10_000_000) -> int:
        """Process events until none is left or the next is after `until`.

        With `until`, the clock ends at `until` even if the network went idle earlier,
        so `run(until=t)` means "let the network live until t". Returns the number of
        events processed; raises RuntimeError after `max_events` (a livelock guard).
        """
        if until is not None and until < self._clock.now:
            raise ValueError(f"run(until={until}) is in the past (now is {self._clock.now})")
        done = 0
        while True:
            t = self._next_time()
            if t is None or (until is not None and t > until):
                break
            if done >= max_events:
                raise RuntimeError(self._livelock_message(max_events))
            self.step()
            done += 1
        if until is not None:
            self._clock.advance_to(until)
        return done

    def run_until(
        self,
        predicate: Callable[[], bool],
        timeout_us: int | None = None,
        max_events: int = 10_000_000,
    ) -> bool:
        """Step until `predicate()` holds (checked before the first step and after each).

        `timeout_us` is relative to now. Returns False if the timeout passes first (the
        clock is then at now + timeout_us) or if the network goes idle (the clock stays
        at the last event: nothing could ever make the predicate true).
        """
        if predicate():
            return True
        if timeout_us is not None and timeout_us < 0:
            raise ValueError(f"timeout_us must be >= 0, got {timeout_us}")
        clock = self._clock
        deadline = None if timeout_us is None else clock.now + timeout_us
        done = 0
        heap = self._heap
        step = self.step
        while True:
            # _next_time(), inline: this loop runs once per event.
            while heap:
                entry = heap[0]
                if entry[2] == KIND_TIMER and entry[4] != entry[3]._timer_gen:
                    heappop(heap)
                    continue
                break
            else:
                return False
            if deadline is not None and entry[0] > deadline:
                self._clock.advance_to(deadline)
                return False
            if done >= max_events:
                raise RuntimeError(self._livelock_message(max_events))
            if entry[2] == KIND_DELIVER:
                # step() of an arrival, inline: this is nearly every event of a transfer.
                heappop(heap)
                time_us = entry[0]
                target = entry[3]
                clock._now = time_us
                if not target._crashed:
                    stack = target.stack
                    stack.receive(entry[4], time_us)
                    packets = stack.transmit()
                    if packets:
                        self._send(target, packets)
                    next_deadline = stack.next_deadline()
                    if next_deadline != target._deadline:
                        self._rearm(target, next_deadline)
            else:
                step()
            done += 1
            if predicate():
                return True

    def _livelock_message(self, max_events: int) -> str:
        return (
            f"network still busy after {max_events} events at t={self._clock.now} us "
            f"({len(self._heap)} queued): a livelock, or raise max_events"
        )

    def __repr__(self) -> str:
        return (
            f"<Network seed={self.seed} now={self._clock.now} hosts={len(self._hosts)} "
            f"links={len(self._links)} queued={len(self._heap)}>"
        )

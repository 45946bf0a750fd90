"""TunDevice against the kernel, inside a test namespace: raw packets both ways."""

from __future__ import annotations

import json
import sys
import textwrap

from netns import Namespace

# Runs inside the namespace: the kernel sends UDP to synack's side of the device, and a
# hand-built IPv4/UDP packet written to the device reaches a kernel socket.
RAW_PACKETS = textwrap.dedent(
    """
    import json, select, socket, struct
    from synack.tun.device import TunDevice

    dev = TunDevice("synack0")
    dev.configure(["198.18.0.1/24", "2001:db8::1/64"], mtu=1400)
    found = {"name": dev.name, "mtu": dev.mtu}

    def read_until(count, max_packets):
        got = []
        for _ in range(50):
            select.select([dev], [], [], 0.2)
            got += [p for p in dev.read_ready(max_packets) if p[-5:] == b"probe"]
            if len(got) >= count:
                break
        return got

    out4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(5):
        out4.sendto(b"%d probe" % i, ("198.18.0.2", 9))
    select.select([dev], [], [], 5)
    first = dev.read_ready(2)
    found["first_batch"] = len(first)
    packets = [p for p in first if p[-5:] == b"probe"]
    packets += read_until(5 - len(packets), 64)
    found["v4"] = [[p[0] >> 4, socket.inet_ntoa(p[16:20]), p[28:].decode()] for p in packets]

    out6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    out6.sendto(b"six probe", ("2001:db8::2", 9))
    packets = read_until(1, 64)
    found["v6"] = [[p[0] >> 4, socket.inet_ntop(socket.AF_INET6, p[24:40])] for p in packets]

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("198.18.0.1", 5353))
    sink.settimeout(5)
    body = b"from the device"
    udp = struct.pack("!HHHH", 9, 5353, 8 + len(body), 0) + body
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         socket.inet_aton("198.18.0.2"), socket.inet_aton("198.18.0.1"))
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
    dev.write(header + udp)
    data, source = sink.recvfrom(100)
    found["delivered"] = [data.decode(), source[0], source[1]]
    found["drops"] = dev.drops
    dev.close()
    found["closed"] = dev.closed
    print(json.dumps(found))
    """
)

BAD_CONFIG = textwrap.dedent(
    """
    import json
    from synack.tun.device import TunError, configure
    try:
        configure("nosuch0", ["198.18.0.1/24"], 1500)
    except TunError as exc:
        print(json.dumps({"error": str(exc)}))
    """
)


def run(ns: Namespace, code: str) -> dict[str, object]:
    done = ns.exec(sys.executable, "-c", code, timeout=60)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_packets_flow_both_ways_through_the_device(netns: Namespace) -> None:
    found = run(netns, RAW_PACKETS)
    assert found["name"] == "synack0"
    assert found["mtu"] == 1400
    assert found["first_batch"] == 2  # read_ready stops at max_packets
    assert found["v4"] == [[4, "198.18.0.2", f"{i} probe"] for i in range(5)]
    assert found["v6"] == [[6, "2001:db8::2"]]  # usable at once: added with nodad
    assert found["delivered"] == ["from the device", "198.18.0.2", 9]
    assert found["drops"] == 0
    assert found["closed"] is True


def test_failing_ip_command_is_reported_with_its_message(netns: Namespace) -> None:
    found = run(netns, BAD_CONFIG)
    error = str(found["error"])
    assert "ip link set dev nosuch0" in error
    assert "failed" in error and "nosuch0" in error

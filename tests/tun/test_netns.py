"""The namespace helper that every real-packet test relies on."""

from __future__ import annotations

import subprocess

import pytest

from netns import Namespace, NamespaceError


def test_namespace_deletes_itself_and_stops_its_processes() -> None:
    with Namespace() as ns:
        sleeper = ns.popen("sleep", "60")
        name = ns.name
        assert ns.exec("ip", "netns", "identify", str(sleeper.pid)).stdout.strip() == name
        listed = ns.exec("ip", "-o", "link", "show", "lo", timeout=10).stdout
        assert "LOOPBACK,UP" in listed
    assert sleeper.poll() is not None  # killed by PID on exit

    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    assert name not in names.stdout


def test_namespace_without_iproute2_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(NamespaceError, match="iproute2"), Namespace():
        pass

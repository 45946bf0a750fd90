"""A network namespace that a test creates, uses and always deletes.

Everything that sends real packets runs inside one of these: the TUN device, synack and
the kernel peer all live in the namespace, so nothing reaches any other network.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
from types import TracebackType
from typing import Any

#: Bound on every command run in the namespace unless a test gives its own.
DEFAULT_TIMEOUT = 60.0


class NamespaceError(RuntimeError):
    """The namespace could not be created (not root, no iproute2...)."""


class Namespace:
    """``ip netns add synack-<hex>`` on enter; kills what it started and deletes it on exit."""

    def __init__(self) -> None:
        self.name = f"synack-{secrets.token_hex(4)}"
        self.created = False
        self._processes: list[subprocess.Popen[Any]] = []

    def __enter__(self) -> Namespace:
        _ip("netns", "add", self.name)
        self.created = True
        try:
            self.exec("ip", "link", "set", "lo", "up", timeout=10, check=True)
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()

    def argv(self, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def exec(
        self, *argv: str, timeout: float = DEFAULT_TIMEOUT, check: bool = False, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` in the namespace to completion (killed after ``timeout`` seconds)."""
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        return subprocess.run(self.argv(*argv), timeout=timeout, check=check, **kwargs)

    def popen(self, *argv: str, **kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` in the namespace; it is killed when the namespace goes."""
        process = subprocess.Popen(self.argv(*argv), **kwargs)
        self._processes.append(process)
        return process

    def cleanup(self) -> None:
        """Stop every process started here (TERM, then KILL), then delete the namespace."""
        for process in self._processes:
            if process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        self._processes.clear()
        if self.created:
            self.created = False
            _ip("netns", "delete", self.name)


def _ip(*args: str) -> None:
    command = ["ip", *args]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)
    except FileNotFoundError as exc:
        raise NamespaceError("the `ip` command (iproute2) is not installed") from exc
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or "").strip()
        raise NamespaceError(
            f"`{' '.join(command)}` failed (exit {exc.returncode}): {detail}"
            " -- network-namespace tests need root and iproute2"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise NamespaceError(f"`{' '.join(command)}` did not finish in 30 s") from exc

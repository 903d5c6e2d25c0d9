"""Runs the fake provider (``python -m harness.fake_provider``) as a real subprocess on a
free port, for the tests and the benchmarks."""

import json
import subprocess
import sys
import urllib.request
from typing import Any, Self

from harness.configs import REPO


class FakeProviderProcess:
    """``python -m harness.fake_provider --port 0 <args>``; use as a context manager, or
    ``start()`` several before ``wait_ready()`` so they boot in parallel."""

    def __init__(self, *args: str, port: int = 0) -> None:
        self.args = args
        self.port = port  # 0: a free one, kept across restart()
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        command = [sys.executable, "-m", "harness.fake_provider", "--host", "127.0.0.1"]
        self._process = subprocess.Popen(
            [*command, "--port", str(self.port), *self.args],
            cwd=REPO,
            stdout=subprocess.PIPE,  # stderr is inherited: a full pipe would stall the server
            text=True,
        )
        return self

    def wait_ready(self) -> Self:
        assert self._process is not None and self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line.startswith("LISTENING "):
            self.stop()
            raise RuntimeError(f"fake provider did not start (see stderr): {line!r}")
        self.port = int(line.split()[1])
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)
        if self._process.stdout is not None:
            self._process.stdout.close()

    def restart(self) -> Self:
        """Stop and start again on the same port (a provider outage and its return)."""
        self.stop()
        return self.start().wait_ready()

    def __enter__(self) -> Self:
        return self.start().wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (ending in ``/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def get(self, path: str) -> Any:
        """GET a JSON endpoint such as ``/stats`` or ``/last_request`` (blocking, local)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as reply:
            return json.loads(reply.read())

    def set_faults(self, **faults: float | str) -> Any:
        """Change latency and fault rates of the running server, e.g. ``error_rate=1``."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/faults",
            data=json.dumps(faults).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            return json.loads(reply.read())

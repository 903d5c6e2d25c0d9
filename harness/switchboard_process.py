"""Runs ``switchboard serve`` as a real child process, for the e2e tests and the benchmarks."""

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Self

from harness.configs import REPO
from harness.ports import free_port

READY_MARKER = "Switchboard ready at "


class SwitchboardProcess:
    def __init__(
        self,
        config: Path,
        port: int,
        env: dict[str, str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.config = config
        self.port = port
        self.extra_args = extra_args
        self.metrics_port = free_port()  # Ray's metrics agent: every replica's series
        self.env = {**os.environ, **(env or {})}
        self.output: deque[str] = deque(maxlen=400)  # last lines, for failure messages
        self.ready_after_s: float | None = None
        self._ready = threading.Event()
        self._process: subprocess.Popen[str] | None = None

    def start(self, timeout_s: float = 300.0) -> Self:
        started = time.monotonic()
        switchboard = Path(sys.executable).parent / "switchboard"  # the console script
        command = [
            str(switchboard),
            "serve",
            "--config",
            str(self.config),
            "--port",
            str(self.port),
            "--metrics-port",
            str(self.metrics_port),
            *self.extra_args,
        ]
        self._process = subprocess.Popen(
            command,
            cwd=REPO,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = started + timeout_s
        while not self._ready.wait(0.5):
            if self._process.poll() is not None or time.monotonic() > deadline:
                break
        if not self._ready.is_set() or self._process.poll() is not None:
            self.stop()
            raise RuntimeError("switchboard did not become ready:\n" + "\n".join(self.output))
        self.ready_after_s = time.monotonic() - started
        return self

    def _pump(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self.output.append(line.rstrip())
            if READY_MARKER in line:
                self._ready.set()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout_s: float = 60.0, signum: int = signal.SIGINT) -> int | None:
        """Ctrl-C (or ``signum``, e.g. SIGTERM from Kubernetes); returns the exit code."""
        if self._process is None or self._process.poll() is not None:
            return self._process.returncode if self._process else None
        self._process.send_signal(signum)
        try:
            return self._process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

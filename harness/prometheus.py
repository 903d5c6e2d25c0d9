"""A real Prometheus server (Debian's ``prometheus`` package) as a subprocess, scraping
given targets every second, with a tiny client for its HTTP query API; and one scrape of
a metrics endpoint, parsed."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Self

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from harness.ports import free_port

Series = list[dict[str, Any]]  # the API's "result": [{"metric": {...}, "values": [...]}]


def prometheus_binary() -> str | None:
    return shutil.which("prometheus")


def missing_reason() -> str:
    return "no `prometheus` binary on PATH (`make tools` installs Debian's package)"


class PrometheusProcess:
    """``with PrometheusProcess(["127.0.0.1:8080"]) as prom: prom.query_range(...)``."""

    def __init__(self, targets: list[str], scrape_interval: str = "1s") -> None:
        self.targets, self.scrape_interval = targets, scrape_interval
        self.url = ""
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        binary = prometheus_binary()
        if binary is None:
            raise RuntimeError(missing_reason())
        self._dir = tempfile.TemporaryDirectory(prefix="prometheus-")
        root = Path(self._dir.name)
        config = {"global": {"scrape_interval": self.scrape_interval,
                             "evaluation_interval": self.scrape_interval},
                  "scrape_configs": [{"job_name": "ray", "static_configs":
                                      [{"targets": self.targets}]}]}  # fmt: skip
        (root / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with (root / "prometheus.log").open("wb") as log:  # the child keeps its own handle
            self._process = subprocess.Popen(
                [binary, f"--config.file={root / 'prometheus.yml'}",
                 f"--storage.tsdb.path={root / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=log, stderr=subprocess.STDOUT, cwd=root, env={**os.environ},
            )  # fmt: skip
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__()  # __exit__ does not run when __enter__ raises
            raise
        return self

    def _wait_ready(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"prometheus not ready after {timeout_s} s: {self.log()[-2000:]}")

    def log(self) -> str:
        assert self._dir is not None
        return (Path(self._dir.name) / "prometheus.log").read_text(errors="replace")

    def __exit__(self, *exc: object) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=30)
        if self._dir is not None:
            self._dir.cleanup()

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=30) as reply:
            body = json.loads(reply.read())
        if body["status"] != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr: str, at: float | None = None) -> Series:
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        result: Series = self.api("query", **params)["result"]
        return result

    def query_range(self, expr: str, start: float, end: float, step: float) -> Series:
        result: Series = self.api(
            "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=f"{step:g}"
        )["result"]
        return result

    def wait_for(self, expr: str, timeout_s: float = 60) -> Series:
        """Poll an instant query until it returns something (Ray exports with a delay)."""
        deadline = time.monotonic() + timeout_s
        while True:
            result = self.query(expr)
            if result or time.monotonic() > deadline:
                return result
            time.sleep(1)


def scrape(url: str) -> list[Sample]:
    """Every sample a metrics endpoint serves now."""
    with urllib.request.urlopen(url, timeout=10) as reply:
        text = reply.read().decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples]

"""The cpu-dev overlay's serveConfigV2, as kustomize renders it, deployed by Ray's own
``serve run`` on a fresh local Ray with the head pod's environment: the application
builds from it, loads both models and answers through the pods' front (HAProxy) with the
client keys read from a file, as in a pod."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.ports import free_port, listener
from router.config_errors import ConfigError
from router.config_loader import check_weights, load_config
from serving.weights import default_models_dir
from tests.k8s.manifests import OVERLAYS_DIR, render, serve_document, the_one

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# Two vLLM engines start one after the other on two busy cores: 60-80 s here, more on CI.
READY_TIMEOUT_S = 240.0
KEY = "sk-serve-run-test"
FLEET = OVERLAYS_DIR / "cpu-dev" / "models.yaml"


def local_serve_config(folder: Path, port: int, rayservice: dict[str, Any]) -> Path:
    document = serve_document(rayservice)
    # Only what differs between a pod and this machine: where the files are, which port.
    document["applications"][0]["args"] = {
        "config_path": str(FLEET),
        "models_dir": str(default_models_dir()),
    }
    document["http_options"] = {"host": "127.0.0.1", "port": port}
    path = folder / "serve.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def pod_like_environment(keys_file: Path, rayservice: dict[str, Any]) -> dict[str, str]:
    """This process's environment without any Switchboard or Ray settings of its own, plus
    the head container's (HF_HUB_OFFLINE, the front's) and the client keys file the pods
    get from their Secret. HAProxy's side ports get free ones: a pod has its own network,
    this test shares the machine's."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("SWITCHBOARD_", "RAY_"))
    }
    head = rayservice["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]
    env |= {v["name"]: v["value"] for v in head["containers"][0]["env"] if "value" in v}
    return env | {
        "SWITCHBOARD_API_KEYS_FILE": str(keys_file),
        "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
    }


@contextmanager
def serve_run(config: Path, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``serve run CONFIG`` on its own new local Ray; stopped with Ctrl-C as a user would,
    which shuts Serve and that Ray down."""
    serve = Path(sys.executable).with_name("serve")
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(serve), "run", str(config), "--address", "local"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group this test started
            process.wait()


def get(url: str, key: str | None = None) -> tuple[int, bytes]:
    """Status and body; an error status is an answer too (Serve's proxy answers in plain
    text until the application is up)."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if get(f"{url}/readyz")[0] == 200:
                return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        time.sleep(1)
    state = "still starting" if process.poll() is None else f"exited {process.returncode}"
    tail = log.read_text(errors="replace")[-4000:]
    pytest.fail(f"not ready after {READY_TIMEOUT_S:.0f} s ({state}); serve run printed:\n{tail}")


def test_rendered_serve_config_deploys_and_answers(tmp_path: Path) -> None:
    try:
        check_weights(load_config(FLEET), default_models_dir(), source=str(FLEET))
    except ConfigError as exc:
        pytest.fail(f"{exc}\nrun `make setup` first")
    port = free_port()
    keys = tmp_path / "api-keys"
    keys.write_text(f"# one key per line\nci:{KEY}\n")
    log = tmp_path / "serve-run.log"
    url = f"http://127.0.0.1:{port}"
    rayservice = the_one(render("cpu-dev"), "RayService")
    config = local_serve_config(tmp_path, port, rayservice)
    env = pod_like_environment(keys, rayservice)
    assert env["HF_HUB_OFFLINE"] == "1" and env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    with serve_run(config, env, log) as process:
        wait_ready(url, process, log)
        assert listener(port) == "haproxy"
        status, body = get(f"{url}/v1/models", KEY)
        assert status == 200, body
        listed = {model["id"] for model in json.loads(body)["data"]}
        assert listed >= {"smollm2-135m", "qwen2.5-coder-0.5b"}
        assert get(f"{url}/v1/models")[0] == 401

"""`switchboard serve`'s default front: HAProxy serves the port, balancing over the router
replicas' own ports (Ray Serve's direct ingress), each of which answers with the same
contract; and the server still stops cleanly and quickly."""

import json
import time
from pathlib import Path

import aiohttp
import pytest

from harness.configs import smol_only_raw, write_config
from harness.ports import free_port, listener
from harness.switchboard_process import SwitchboardProcess

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KEY = "sk-direct-test"
SMOL = "smollm2-135m"


async def test_haproxy_serves_the_port_over_the_router_replica_s_own(tmp_path: Path) -> None:
    config = write_config(tmp_path / "models.yaml", smol_only_raw())
    port, direct = free_port(), free_port()
    server = SwitchboardProcess(
        config,
        port,
        env={"SWITCHBOARD_API_KEYS": KEY},
        extra_args=("--direct-port", str(direct)),
    ).start()
    try:
        assert listener(port) == "haproxy"
        assert listener(direct).startswith("ray::ServeRepli")  # the router replica
        headers = {"Authorization": f"Bearer {KEY}"}
        body = {"model": "auto", "max_tokens": 4, "stream": True,
                "messages": [{"role": "user", "content": "Say hi."}]}  # fmt: skip
        for url in (f"http://127.0.0.1:{port}", f"http://127.0.0.1:{direct}"):
            async with aiohttp.ClientSession(base_url=url) as session:
                async with session.get("/readyz") as reply:
                    assert reply.status == 200
                async with session.post("/v1/chat/completions", json=body) as reply:
                    assert reply.status == 401
                    assert (await reply.json())["error"]["code"] == "invalid_api_key"
                async with session.post(
                    "/v1/chat/completions", json=body, headers=headers
                ) as reply:
                    assert reply.status == 200
                    assert reply.headers["x-switchboard-model"] == SMOL
                    events = (await reply.text()).strip().split("\n\n")
                assert events[-1] == "data: [DONE]"
                assert json.loads(events[0].removeprefix("data: "))["model"] == SMOL
    finally:
        started = time.monotonic()
        assert server.stop() == 0, "\n".join(server.output)
    assert time.monotonic() - started < 30  # no 30 s draining period on one machine

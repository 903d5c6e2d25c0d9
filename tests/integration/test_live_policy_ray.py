"""The live policy through Ray Serve's declarative deploy, the path of ``serve deploy`` and
of KubeRay's ``serveConfigV2``: the Serve config ``switchboard config serve`` writes is
deployed, then again with only the router's ``user_config`` changed, which Ray applies
to the running router replica. A ``user_config`` that does not fit the fleet is refused
by the serving replica, which keeps its policy and keeps serving.

Deployed as Ray's own ``serve run CONFIG`` deploys a config file (its controller client's
``deploy_apps``), on a fresh local Ray."""

import copy
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import ray
from ray import serve
from ray.serve._private.api import serve_start
from ray.serve.schema import ServeDeploySchema

from harness.configs import smol_only_raw, write_config
from harness.ports import free_port
from harness.prometheus import scrape
from router.app import SwitchboardArgs
from router.cli.serve_config import serve_config
from router.cli.serve_local import wait_ready
from router.config_loader import load_config
from serving.weights import default_models_dir

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMOL = "smollm2-135m"
UPDATES = "ray_switchboard_policy_updates_total"
Deploy = Callable[[dict[str, Any]], None]


def tenant_rule(tenant: str, pin: str = SMOL) -> dict[str, Any]:
    when = {"header": {"name": "x-tenant", "equals": tenant}}
    return {"rules": [{"name": "tenant-pinned", "when": when, "then": {"pin": pin}}]}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Deploy]]:
    """(base URL, metrics scrape URL, deploy: the app again with this router user_config)."""
    raw = smol_only_raw()
    raw["router"] |= tenant_rule("acme")
    path = write_config(tmp_path_factory.mktemp("cfg") / "models.yaml", raw)
    args = SwitchboardArgs(config_path=str(path), models_dir=str(default_models_dir()))
    document = serve_config(load_config(path), args)
    port, metrics_port = free_port(), free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             _metrics_export_port=metrics_port)  # fmt: skip
    try:
        client = serve_start(http_options={"host": "127.0.0.1", "port": port})

        def deploy(user_config: dict[str, Any]) -> None:
            changed = copy.deepcopy(document)
            [router] = [d for d in changed["applications"][0]["deployments"]
                        if d["name"] == "RouterReplica"]  # fmt: skip
            router["user_config"] = user_config
            client.deploy_apps(ServeDeploySchema.model_validate(changed), _blocking=True)

        client.deploy_apps(ServeDeploySchema.model_validate(document), _blocking=True)
        url = f"http://127.0.0.1:{port}"
        assert wait_ready(url, timeout_s=60)
        yield url, f"http://127.0.0.1:{metrics_port}/metrics", deploy
    finally:
        serve.shutdown()
        ray.shutdown()


def route(url: str, tenant: str) -> str:
    """The ``x-switchboard-route`` of a one-token chat as ``tenant``."""
    body = b'{"model": "auto", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}'
    request = urllib.request.Request(
        f"{url}/v1/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", "x-tenant": tenant},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        return str(reply.headers["x-switchboard-route"])


def updates(scrape_url: str) -> dict[tuple[str, str], float]:
    """(router replica, outcome) -> live policy updates it counted."""
    return {
        (s.labels["replica"], s.labels["outcome"]): s.value
        for s in scrape(scrape_url)
        if s.name == UPDATES
    }


def eventually_equal(read: Callable[[], object], expected: object, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while (seen := read()) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout_s:.0f} s: {seen!r}, expected {expected!r}")
        time.sleep(0.5)


def the_router_replica(scrape_url: str) -> str:
    """The one router replica's id, once its first (start-up) policy is exported."""
    eventually_equal(lambda: len({r for r, _ in updates(scrape_url)}), 1)
    [replica] = {r for r, _ in updates(scrape_url)}
    return replica


def test_a_new_user_config_reconfigures_the_running_router(app: tuple[str, str, Deploy]) -> None:
    url, scrape_url, deploy = app
    assert (route(url, "acme"), route(url, "globex")) == ("rule", "only-candidate")
    replica = the_router_replica(scrape_url)
    eventually_equal(lambda: updates(scrape_url), {(replica, "applied"): 1.0})

    deploy(tenant_rule("globex"))
    assert (route(url, "acme"), route(url, "globex")) == ("only-candidate", "rule")
    # The same replica counted both: reconfigured, not replaced.
    eventually_equal(lambda: updates(scrape_url), {(replica, "applied"): 2.0})


def test_a_user_config_that_does_not_fit_is_refused_and_the_router_serves_on(
    app: tuple[str, str, Deploy],
) -> None:
    url, scrape_url, deploy = app
    deploy(tenant_rule("globex"))
    replica = the_router_replica(scrape_url)

    deploy(tenant_rule("acme", pin="no-such-model"))
    assert serve.status().applications["switchboard"].status == "RUNNING"
    assert (route(url, "acme"), route(url, "globex")) == ("only-candidate", "rule")
    rejected = {(replica, "rejected"): 1.0}
    eventually_equal(lambda: {k: v for k, v in updates(scrape_url).items() if k in rejected},
                     rejected)  # fmt: skip
    assert {r for r, _ in updates(scrape_url)} == {replica}

"""What serves ``switchboard serve``'s port: the Ray Serve settings for each front."""

import pytest

from router.cli.front import serving_env


@pytest.fixture(autouse=True)
def no_ray_serve_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("RAY_SERVE_ENABLE_HA_PROXY", "RAY_SERVE_THROUGHPUT_OPTIMIZED",
                 "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)


def test_the_default_front_is_haproxy_over_the_replicas_own_ports() -> None:
    env = serving_env("haproxy", None, router_replicas=2)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1"
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    # Its side ports are free ones, not Ray's fixed 8404 and 9101.
    side = {env["RAY_SERVE_HAPROXY_STATS_PORT"], env["RAY_SERVE_HAPROXY_METRICS_PORT"]}
    assert len(side) == 2 and not side & {"8404", "9101"}
    assert "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT" not in env  # Ray's range


def test_direct_port_sets_the_replicas_range_with_room_for_replacements() -> None:
    env = serving_env("haproxy", 31000, router_replicas=2)
    assert env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"] == "31000"
    assert env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"] == "31004"  # exclusive


def test_ray_proxy_leaves_ray_serve_as_it_is_unless_direct_ports_are_asked_for() -> None:
    assert serving_env("ray-proxy", None, router_replicas=1) == {}
    env = serving_env("ray-proxy", 31000, router_replicas=1)
    assert env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    assert "RAY_SERVE_ENABLE_HA_PROXY" not in env


def test_settings_already_in_the_environment_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_SERVE_ENABLE_HA_PROXY", "0")
    assert "RAY_SERVE_ENABLE_HA_PROXY" not in serving_env("haproxy", None, router_replicas=1)

"""What serves ``switchboard serve``'s port, as the Ray Serve settings for it."""

import os
import socket
import typing
from typing import Literal

# HAProxy in front of the router replicas' own ports, or Ray's Python proxy actor (one
# more Python hop per request).
Front = Literal["haproxy", "ray-proxy"]
FRONTS: tuple[Front, ...] = typing.get_args(Front)


def serving_env(front: Front, direct_port: int | None, router_replicas: int) -> dict[str, str]:
    """Ray Serve's settings for the request path (read by every Ray process at start, so
    set before ``ray.init``; the variables already in the environment win).
    ``haproxy``: Ray Serve's throughput mode with its HAProxy front: each router replica
    serves HTTP on its own port (direct ingress), HAProxy balances ``--port`` over them
    (least connections, health-checked), handles use gRPC, user code shares the replica's
    event loop, and Serve buffers its own logs into its log files (Switchboard's JSON
    lines still go to the replica's stderr: ``router.metrics.request_log``).
    ``ray-proxy``: Ray's Python proxy actor, plus the replicas' own ports with
    ``direct_port``. Measured by ``bench/overhead.py``. On one machine a stopping replica
    need not wait Serve's 30 s draining period, nor a port it freed be quarantined for a
    restart; HAProxy's stats and Prometheus ports, fixed by default in Ray (8404, 9101,
    its series are also in Ray's), take free ones so that two servers can share a
    machine."""
    if front == "ray-proxy" and direct_port is None:
        return {}
    env = {
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "0",
        "RAY_SERVE_PORT_QUARANTINE_S": "0",
    }
    if direct_port is not None:
        # Twice the replicas: a replacement may start before its predecessor's port frees.
        last = direct_port + 2 * router_replicas
        env |= {
            "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(direct_port),
            "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(last),
        }
    if front == "haproxy":
        env |= {
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_STATS_PORT": str(free_port()),
            "RAY_SERVE_HAPROXY_METRICS_PORT": str(free_port()),
        }
    return {name: value for name, value in env.items() if name not in os.environ}


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS picks it; a server binds it soon after)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port

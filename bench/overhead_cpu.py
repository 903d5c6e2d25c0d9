"""CPU time of the overhead benchmark's servers, per process and summed by role (the
front: HAProxy and its manager actor, or Ray's proxy actor; the router replica; the rest
of the Ray tree), and of the load client."""

import psutil

from router.app import APP_NAME
from router.http.ingress import RouterIngress


class CpuMeter:
    """User + system CPU seconds of fixed processes, summed by role."""

    def __init__(self, roles: dict[str, list[psutil.Process]], path: tuple[str, ...]) -> None:
        self.roles, self.path = roles, path
        self._last: dict[int, float] = {}  # a process that ended keeps its last reading

    def read(self) -> dict[str, float]:
        totals = {}
        for role, processes in self.roles.items():
            for process in processes:
                try:
                    times = process.cpu_times()
                    self._last[process.pid] = times.user + times.system
                except psutil.Error:
                    pass
            totals[role] = sum(self._last.get(p.pid, 0.0) for p in processes)
        return totals


def tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def switchboard_meter(pid: int) -> CpuMeter:
    """Ray names its worker processes after what they run: ``ray::ProxyActor...``,
    ``ray::HAProxyManager...`` (which runs the ``haproxy`` binary),
    ``ray::ServeReplica:<app>:<deployment>...``."""
    router = f"ServeReplica:{APP_NAME}:{RouterIngress.name}"
    roles: dict[str, list[psutil.Process]] = {"front": [], "router_replica": [],
                                              "ray_other": []}  # fmt: skip
    for process in tree(pid):
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        front = "ProxyActor" in title or "haproxy" in title.lower()
        role = "router_replica" if router in title else "front" if front else "ray_other"
        roles[role].append(process)
    return CpuMeter(roles, path=("front", "router_replica"))


def own_cpu_s() -> float:
    times = psutil.Process().cpu_times()
    return float(times.user + times.system)

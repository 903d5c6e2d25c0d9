"""Free loopback ports for the servers the harness starts, and who listens on one."""

import psutil

from router.cli.front import free_port

__all__ = ["free_port", "listener"]


def listener(port: int) -> str:
    """The name of the process listening on ``port`` ("nothing" if none)."""
    found = [c.pid for c in psutil.net_connections(kind="tcp")
             if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid]  # fmt: skip
    return psutil.Process(found[0]).name() if found else "nothing"

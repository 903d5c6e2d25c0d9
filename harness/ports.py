"""Free loopback ports for the servers the harness starts, and who listens on one."""

import socket

import psutil


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS picks it; a server binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listener(port: int) -> str:
    """The name of the process listening on ``port`` ("nothing" if none)."""
    found = [c.pid for c in psutil.net_connections(kind="tcp")
             if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid]  # fmt: skip
    return psutil.Process(found[0]).name() if found else "nothing"

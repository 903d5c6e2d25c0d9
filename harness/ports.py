"""Free loopback ports for the servers the harness starts."""

import socket


def free_port() -> int:
    """A port free on 127.0.0.1 now (the OS picks it; a server binds it soon after)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

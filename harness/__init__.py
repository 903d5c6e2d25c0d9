"""What the tests and the benchmarks both run: the fake provider, ``switchboard serve`` as
a child process, the app on a local Ray Serve, a real Prometheus, an overflowing fleet,
and the fleet configs they start from. Nothing here imports ``tests`` or ``bench``."""

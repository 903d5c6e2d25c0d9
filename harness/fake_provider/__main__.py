"""``python -m harness.fake_provider``: serve the fake provider (see ``server.main``)."""

from harness.fake_provider.server import main

main()

"""A fake OpenAI-compatible provider (``server``), run as a real HTTP server process
(``process``) by the tests and the benchmarks: ``python -m harness.fake_provider``."""

"""A fake OpenAI-compatible provider run as a real HTTP server process in tests."""

"""The sandbox: the real bot against a local Bot API, played from a web chat in a browser."""

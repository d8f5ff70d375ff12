"""carbonish: a Graphite-compatible metrics system (carbon-cache, whisper, graphite-web)."""

__version__ = "0.1.0"

"""FutBot trading engine: pure Python, no Qt."""

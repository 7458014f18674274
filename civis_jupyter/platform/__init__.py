"""The embedded local Civis Platform.

``with LocalPlatform(seed="demo") as platform:`` serves the Civis API on
127.0.0.1 with SQL on DuckDB, files on disk and scripts run as local
processes; ``platform.endpoint`` and ``platform.api_key`` are what clients
need. ``civis-jupyter platform`` starts one from a shell.
"""

from .local import DEFAULT_DATABASE, LocalPlatform

__all__ = ["DEFAULT_DATABASE", "LocalPlatform"]

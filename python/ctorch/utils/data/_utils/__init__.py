"""DataLoader internals."""
import sys

IS_WINDOWS = sys.platform == "win32"
MP_STATUS_CHECK_INTERVAL = 5.0
"""Seconds between liveness checks of workers while the main process waits for data."""

from . import collate, fetch, worker  # noqa: E402,F401

"""DataLoader internals."""
import sys

IS_WINDOWS = sys.platform == "win32"
MP_STATUS_CHECK_INTERVAL = 5.0
"""Seconds the main process waits for a worker to exit at shutdown before terminating it."""

LIVENESS_CHECK_INTERVAL = 0.5
"""Seconds between liveness checks of workers while the main process waits for data (a
blocking wait on the result queue: data arriving ends it at once, so this only bounds how
fast a killed worker is noticed)."""

from . import collate, fetch, worker  # noqa: E402,F401

"""gunicorn settings of the fault suite (`-c`): every worker's clock on the master's timeline.

A testing worker runs the portal clock from PORTAL_TEST_CLOCK_START, counted from its own
boot (portal.clock.follow_test_start). A worker started again after a SIGKILL would then be
behind the others by the time since the first boot; this hook hands each new worker the start
time moved on by the master's age, so that all workers of both instances keep one time.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta
from typing import Any

_VARIABLE = "PORTAL_TEST_CLOCK_START"
_START = os.environ.get(_VARIABLE, "")
_BOOT = time.monotonic()


def post_fork(_server: Any, _worker: Any) -> None:
    if _START:
        now = datetime.fromisoformat(_START) + timedelta(seconds=time.monotonic() - _BOOT)
        os.environ[_VARIABLE] = now.isoformat()

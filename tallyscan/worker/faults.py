"""TEST-ONLY fault injection for the reliability tests and the fault benchmark.

Nothing happens unless the environment variable ``TALLYSCAN_TEST_FAULTS`` is
set *and* names the exact sha256 of the document being processed, e.g.::

    TALLYSCAN_TEST_FAULTS="<sha256>=kill,<sha256>=sleep:5,<sha256>=hang:30"

* ``kill``     -- the worker process SIGKILLs itself (what the OOM killer or a
  segfault in a native library does): the poison document.
* ``sleep:N``  -- sleeps N seconds before processing (a slow document, so a test
  can kill its worker mid-document; the soft time limit interrupts it).
* ``hang:N``   -- like sleep, but ignores the soft time limit, so only the hard
  limit (the pool killing the process) stops it.

A production deployment never sets this variable; it is not one of the
``Settings`` and is not shown in ``--help``. It is read once per process.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import time

from celery.exceptions import SoftTimeLimitExceeded

log = logging.getLogger(__name__)

ENV_VAR = "TALLYSCAN_TEST_FAULTS"
_ENTRY = re.compile(r"^([0-9a-f]{64})=(kill|sleep:\d+(?:\.\d+)?|hang:\d+(?:\.\d+)?)$")


@functools.cache
def planned_faults() -> dict[str, str]:
    """sha256 -> fault, from ``TALLYSCAN_TEST_FAULTS`` (malformed entries are ignored)."""
    raw = os.environ.get(ENV_VAR, "")
    faults: dict[str, str] = {}
    for entry in filter(None, (e.strip() for e in raw.split(","))):
        match = _ENTRY.match(entry)
        if match:
            faults[match.group(1)] = match.group(2)
        else:
            log.warning("%s: ignoring malformed entry %r", ENV_VAR, entry[:80])
    return faults


def inject(sha256: str) -> None:
    """Apply the fault planned for this document, if any (test runs only)."""
    fault = planned_faults().get(sha256) if os.environ.get(ENV_VAR) else None
    if fault is None:
        return
    log.warning("TEST FAULT %s for document %s", fault, sha256[:12])
    if fault == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)  # never reached; the signal is immediate
    kind, _, seconds = fault.partition(":")
    deadline = time.monotonic() + float(seconds)
    while (left := deadline - time.monotonic()) > 0:
        try:
            time.sleep(min(left, 0.5))
        except SoftTimeLimitExceeded:
            if kind == "sleep":
                raise

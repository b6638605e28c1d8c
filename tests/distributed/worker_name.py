"""``[core] hostname_callable`` of the test's workers: each reports its own name, as two hosts would."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("CC_WORKER_NAME") or socket.getfqdn()

"""Run ``airflow <args>`` (the API server) for the browser test, with one upstream fix applied when missing.

Airflow 3.3.2's "Test Connection" button fails with ``400 Bad Request`` for every connection that
has no port (every Constant Contact connection: the port field is hidden). The UI posts
``port: Number(connection.port)``, which is ``0`` for a NULL port, and the API takes ``0 != NULL``
for "testing another destination" and refuses to reuse the stored (masked) secrets (a side effect of the
hardening in apache/airflow#69957, also diagnosed in sassoftware/sas-airflow-provider#60). The fix applied
here treats port ``0`` as blank, like ``""``; no Airflow release has such a fix yet.

This launcher applies that same fix inside the API server process when the installed Airflow still
has the bug, and does nothing on an Airflow that has the fix. While the file named by
``CC_UI_STOCK_TEST_FLAG`` exists, the stock behaviour is restored, so the test can show both.
Usage: ``python tests/ui/api_server.py api-server -H 127.0.0.1 -p PORT`` (any ``airflow`` arguments).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FIX = "port-0-test-connection"


def apply_port_zero_fix() -> bool:
    """Patch the connection-test route's endpoint comparison; return True when it was needed."""
    from airflow.api_fastapi.core_api.routes.public import connections as routes

    original = getattr(routes, "_same_endpoint", None)
    if original is None or original(0, None):
        return False
    stock_flag = os.environ.get("CC_UI_STOCK_TEST_FLAG", "")

    def same_endpoint(requested: str | int | None, stored: str | int | None) -> bool:
        if stock_flag and os.path.exists(stock_flag):
            return original(requested, stored)
        return original(None if requested == 0 else requested, None if stored == 0 else stored)

    routes._same_endpoint = same_endpoint  # the route looks the name up at call time
    return True


def main() -> None:
    applied = apply_port_zero_fix()
    status = os.environ.get("CC_UI_BACKPORT_STATUS")
    if status:
        Path(status).write_text(json.dumps({FIX: applied}))
    print(f"cc-provider UI test: {FIX} backported into this API server: {applied}", file=sys.stderr, flush=True)
    from airflow.__main__ import main as airflow_main

    sys.argv = ["airflow", *sys.argv[1:]]
    airflow_main()


if __name__ == "__main__":
    main()

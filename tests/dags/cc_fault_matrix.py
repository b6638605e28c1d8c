"""
Test DAG of the fault matrix (tests/integration/test_fault_matrix.py): create a list, import, wait, verify.

Each scenario is one ``dag.test(run_conf=...)`` against a sandbox with faults armed. The knobs that are
not templated fields are read from the environment when the file is parsed:

- ``CC_FAULT_WAIT``: ``deferred`` (default: the import operator waits in the triggerer), ``worker`` (it
  polls in the worker) or ``sensor`` (the import does not wait; a sensor in poke mode does);
- ``CC_FAULT_POLL_SECONDS`` (0.2), ``CC_FAULT_WAIT_TIMEOUT`` (60), ``CC_FAULT_UNKNOWN_GRACE`` (300);
- ``CC_FAULT_FAILURE_LOG``: a JSON Lines file to which every failed or retried try appends its
  exception's type, classes and message (the callbacks get the exception object itself).

The 300 contacts come from the synthetic app database: 7 have no email and 11 a malformed one, so the
local rejects show up in the accounting; the 282 others are sent in three requests of at most 100 (three
activities: the waits read them through ``GET /activities``, a path a fault can target).
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, XComArg

from cc_provider.operators.json_import import ConstantContactImportJsonOperator
from cc_provider.operators.lists import ConstantContactCreateListOperator
from cc_provider.operators.membership import ConstantContactVerifyListOperator
from cc_provider.sensors.activity import ConstantContactActivitySensor
from cc_sandbox.app_db import synthetic_users

USERS = 300
CONTACTS_PER_REQUEST = 100
CONTACTS = [
    {"email": email, "first_name": first, "last_name": last, "company_name": company}
    for _, email, first, last, company, *_ in synthetic_users(USERS)
]
VALID_EMAILS = sorted(str(c["email"]) for c in CONTACTS if c["email"] and "@" in str(c["email"]))

WAIT = os.environ.get("CC_FAULT_WAIT", "deferred")
POLL_SECONDS = float(os.environ.get("CC_FAULT_POLL_SECONDS", "0.2"))
WAIT_TIMEOUT = float(os.environ.get("CC_FAULT_WAIT_TIMEOUT", "60"))
UNKNOWN_GRACE = float(os.environ.get("CC_FAULT_UNKNOWN_GRACE", "300"))


def record_failure(context: dict[str, Any]) -> None:
    """Append the try's exception (type, classes, message) to ``$CC_FAULT_FAILURE_LOG``."""
    path = os.environ.get("CC_FAULT_FAILURE_LOG")
    if not path:
        return
    error = context.get("exception")
    ti = context["ti"]
    entry = {
        "task_id": ti.task_id,
        "try_number": ti.try_number,
        "type": type(error).__name__,
        "classes": [cls.__name__ for cls in type(error).__mro__],
        "message": str(error),
    }
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


with DAG(
    "cc_fault_matrix",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={
        "list_name": "Fault matrix",
        "rejects_path": os.path.join(tempfile.gettempdir(), "cc_fault_matrix_rejects.csv"),
    },
    default_args={
        "retries": 1,
        "retry_delay": timedelta(seconds=0),
        "on_failure_callback": record_failure,
        "on_retry_callback": record_failure,
    },
) as dag:
    create_list = ConstantContactCreateListOperator(task_id="create_list", name="{{ params.list_name }}")
    import_contacts = ConstantContactImportJsonOperator(
        task_id="import_contacts",
        contacts=CONTACTS,
        list_ids=[create_list.output],
        rejects_path="{{ params.rejects_path }}",
        max_contacts_per_request=CONTACTS_PER_REQUEST,
        wait_for_completion=WAIT != "sensor",
        deferrable=WAIT == "deferred",
        poll_interval=POLL_SECONDS,
        wait_timeout=WAIT_TIMEOUT,
        unknown_state_grace=UNKNOWN_GRACE,
    )
    verify = ConstantContactVerifyListOperator(
        task_id="verify",
        list_id=create_list.output,
        expected_emails=VALID_EMAILS,
    )
    if WAIT == "sensor":
        wait = ConstantContactActivitySensor(
            task_id="wait_for_import",
            activity_ids=XComArg(import_contacts, key="activity_ids"),
            mode="poke",
            poke_interval=POLL_SECONDS,
            timeout=WAIT_TIMEOUT,
            unknown_state_grace=UNKNOWN_GRACE,
        )
        import_contacts >> wait >> verify
    else:
        import_contacts >> verify

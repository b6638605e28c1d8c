"""Export contacts to a CSV file through a ``contact_exports`` activity, e.g. for reconciliation."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context, conf

from cc_provider import storage
from cc_provider.exceptions import ActivityFailedError
from cc_provider.hooks.constant_contact import ConstantContactHook
from cc_provider.storage import Location
from cc_provider.waiting import ActivityWaiter


class ConstantContactExportContactsOperator(ActivityWaiter, BaseOperator):
    """
    Export contacts (all, or those of some lists) and download the CSV to ``path``.

    Starts the export activity, waits for it (in the triggerer when ``deferrable``), then downloads
    the file. Returns ``{"path", "activity_id", "rows"}``.

    :param path: where to write the CSV: a local path, a URL (``s3://``, ``file://``, ...) or an
        ``ObjectStoragePath`` (written in chunks; an object store uploads as it goes). Templated.
    :param list_ids: export only these lists' contacts (up to 50). Templated.
    :param status: export only contacts in this status (e.g. ``active``, ``unsubscribed``).
    :param fields: columns to export; by default all of them (``email_address`` brings the opt-in/out columns).
    :param deferrable: wait in the triggerer.
    :param poll_interval: the shortest time between polls while waiting; later polls follow the progress.
    :param wait_timeout: seconds to wait at most.
    :param constant_contact_conn_id: Airflow connection id.
    """

    template_fields: Sequence[str] = ("path", "list_ids", "status")

    def __init__(
        self,
        *,
        path: Location,
        list_ids: list[str] | None = None,
        status: str | None = None,
        fields: list[str] | None = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        wait_timeout: float = 6 * 3600.0,
        constant_contact_conn_id: str = ConstantContactHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.path = path
        self.list_ids = list_ids
        self.status = status
        self.fields = fields
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self.wait_timeout = wait_timeout
        self.constant_contact_conn_id = constant_contact_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        hook = ConstantContactHook(self.constant_contact_conn_id)
        activity = hook.start_contact_export(list_ids=self.list_ids, status=self.status, fields=self.fields)
        activity_id = activity["activity_id"]
        self.log.info("Export activity %s started.", activity_id)
        self.wait(context, [activity_id], self.clock() + self.wait_timeout)
        return self._download(hook, activity_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger: download the file of a completed export."""
        (summary,) = self.complete_event(context, event)
        return self._download(ConstantContactHook(self.constant_contact_conn_id), str(summary["activity_id"]))

    def _download(self, hook: ConstantContactHook, activity_id: str) -> dict[str, Any]:
        activity = hook.get_activity(activity_id)
        href = ((activity.get("_links") or {}).get("results") or {}).get("href")
        if not href:
            raise ActivityFailedError(f"Export activity {activity_id} completed without a results link.")
        content = hook.download_export(href)  # the hook returns the whole body: it is held once, never copied
        with storage.open_write(self.path) as target:
            for start in range(0, len(content), storage.CHUNK_BYTES):
                target.write(content[start : start + storage.CHUNK_BYTES])
        with io.TextIOWrapper(io.BytesIO(content), encoding="utf-8-sig", newline="") as text:
            rows = max(0, sum(1 for _ in csv.reader(text)) - 1)
        where = storage.url(self.path)
        self.log.info("Exported %d contact row(s) to %s.", rows, where)
        return {"path": where, "activity_id": activity_id, "rows": rows}

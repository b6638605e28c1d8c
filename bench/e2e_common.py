"""
Shared by ``bench/import_end_to_end.py`` and ``bench/soak.py``: a sandbox in a subprocess, one import
operator run in another subprocess, and the checks of the result against the sandbox's own figures.

Why subprocesses: the sandbox parses and stores every contact, so in-process it would share the GIL
with the importer and add its memory to the importer's. In its own process the importer's peak RSS
(``ru_maxrss``) and CPU time are the importer's alone.

Run directly only as the child (``--child SPEC``), which the parent does.
"""

from __future__ import annotations

import base64
import json
import os
import re
import resource
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent

#: The sandbox's default account (``SandboxConfig``'s defaults).
CLIENT_ID = "cc-sandbox-client-id"
CLIENT_SECRET = "cc-sandbox-client-secret"
REFRESH_TOKEN = "cc-sandbox-refresh-token"

TOKEN_ROUTE = "POST /oauth2/default/v1/token"
IMPORT_ROUTES = ("POST /v3/activities/contacts_file_import", "POST /v3/activities/contacts_json_import")
POLL_ROUTES = ("GET /v3/activities", "GET /v3/activities/{activity_id}")

#: The synthetic file's V2 "Work Phone" and "Home Phone" map to ``work_phone`` / ``home_phone``, which
#: ``contacts_json_import`` takes but ``contacts_file_import`` does not (its only phone heading is
#: ``phone``; the CSV operator refuses such a file before sending anything). Both operators get the same
#: map, so they import the same data: the work phone as ``phone``, the home phone dropped.
COLUMN_MAP = {"Work Phone": "phone", "Home Phone": None}


# -- the sandbox, in its own process -----------------------------------------------------------------


class SandboxProcess:
    """``python -m cc_sandbox`` on a free port, the real rate limits unless told otherwise."""

    def __init__(
        self, log_path: Path, *, limits: bool = True, start_delay: float = 0.05, rows_per_second: float = 50_000
    ):
        self.log_path = log_path
        self.args = [
            sys.executable,
            "-m",
            "cc_sandbox",
            "--port",
            "0",
            "--activity-start-delay",
            str(start_delay),
            "--activity-rows-per-second",
            str(rows_per_second),
        ]
        if not limits:
            self.args.append("--no-limits")
        self.limits = limits
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.connection = ""

    def __enter__(self) -> SandboxProcess:
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._log, cwd=REPO)
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        lines = []
        while time.monotonic() < deadline:
            raw = self.process.stdout.readline()
            if not raw:
                raise SystemExit(f"The sandbox exited at start; see {self.log_path}.")
            line = raw.decode()
            lines.append(line)
            if "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT=" in line:
                value = line.split("AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT=", 1)[1].strip()
                self.connection = value[1:-1] if value.startswith("'") else value  # shlex-quoted JSON
            match = re.search(r"Sandbox ready at (\S+)", line)
            if match:
                self.url = match.group(1)
                self._log.write("".join(lines).encode())
                return self
        raise SystemExit("The sandbox did not start within 60 s.")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._log.close()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the sandbox process has used so far."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        """The sandbox process's high-water RSS so far (``VmHWM``)."""
        return _proc_status_mb(self.pid, "VmHWM")

    # admin API (neither counted, faulted nor rate limited by the sandbox)

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(
            f"{self.url}/__sandbox__/{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read() or b"null")

    def stats(self) -> dict[str, Any]:
        return self.admin("GET", "stats")

    def reset(self) -> None:
        self.admin("POST", "reset")

    # the API, for the checks after a run (called after the stats were read, so never counted in them)

    def _token(self) -> str:
        body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": REFRESH_TOKEN}).encode()
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        request = urllib.request.Request(
            f"{self.url}/oauth2/default/v1/token",
            data=body,
            headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        )
        for _ in range(10):  # the token endpoint allows 1 request a second
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    return str(json.loads(response.read())["access_token"])
            except urllib.error.HTTPError as err:
                if err.code != 429:
                    raise
                time.sleep(1.1)
        raise RuntimeError("No access token from the sandbox.")

    def api_get(self, path: str, params: dict[str, Any], token: str) -> Any:
        url = f"{self.url}/v3{path}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        for _ in range(10):  # 4 requests a second
            try:
                with urllib.request.urlopen(request, timeout=300) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                if err.code != 429:
                    raise
                time.sleep(0.5)
        raise RuntimeError(f"GET {path} kept answering 429.")

    def contact_counts(self, list_id: str) -> dict[str, int]:
        """The sandbox's own counts: members of ``list_id`` and contacts in the account (any status)."""
        token = self._token()
        members = self.api_get("/contacts", {"lists": list_id, "include_count": "true", "limit": 1}, token)
        everyone = self.api_get("/contacts", {"status": "all", "include_count": "true", "limit": 1}, token)
        return {"list_members": int(members["contacts_count"]), "account_contacts": int(everyone["contacts_count"])}


# -- one operator run, in a child process -------------------------------------------------------------


@dataclass
class RunSpec:
    operator: str  # "csv" or "json"
    source: str
    list_name: str
    rejects_path: str
    poll_interval: float
    connection: str
    airflow_home: str
    profile: str | None = None  # write cProfile stats of execute() here

    def to_json(self) -> str:
        return json.dumps(self.__dict__)


def run_operator(spec: RunSpec, log_path: Path) -> dict[str, Any]:
    """Run one operator in a fresh interpreter; return its figures (it raises SystemExit if it failed)."""
    env = {
        **os.environ,
        "AIRFLOW_HOME": spec.airflow_home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW_CONN_CONSTANT_CONTACT_DEFAULT": spec.connection,
    }
    with log_path.open("wb") as log:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", spec.to_json()],
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=REPO,
        )
    if done.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise SystemExit(f"The {spec.operator} operator failed (exit {done.returncode}); log {log_path}:\n{tail}")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


class _TaskInstance:
    """What ``execute`` needs of a task instance outside a DAG run (as in the integration tests)."""

    task_id = "bench_import"
    dag_id = "bench"
    run_id = "bench"
    map_index = -1

    def __init__(self) -> None:
        self.pushed: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.pushed[key] = value

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int = -1) -> Any:
        return self.pushed.get(key)


def _proc_status_mb(pid: int | str, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(spec: RunSpec) -> None:
    from cc_provider.operators.csv_import import ConstantContactImportCsvOperator
    from cc_provider.operators.json_import import ConstantContactImportJsonOperator

    cls = ConstantContactImportCsvOperator if spec.operator == "csv" else ConstantContactImportJsonOperator
    rss_after_imports = _proc_status_mb("self", "VmRSS")
    task = cls(
        task_id="bench_import",
        path=spec.source,
        list_names=[spec.list_name],
        rejects_path=spec.rejects_path,
        column_map=COLUMN_MAP,
        create_custom_fields=True,  # "Custom Field 1" maps to cf:custom_field_1, which a fresh account lacks
        wait_for_completion=True,
        deferrable=False,
        poll_interval=spec.poll_interval,
    )
    marks: dict[str, float] = {}
    post = task.post

    def timed_post(*args: Any, **kwargs: Any) -> Any:
        if "first_post" not in marks:
            marks["first_post"] = time.perf_counter()
            marks["cpu_at_first_post"] = time.process_time()
            marks["rss_before_upload_mb"] = _max_rss_mb()
        try:
            return post(*args, **kwargs)
        finally:
            marks["last_post_done"] = time.perf_counter()

    task.post = timed_post  # type: ignore[method-assign]
    profiler = None
    if spec.profile:
        import cProfile

        profiler = cProfile.Profile()
    start, cpu_start = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    summary = task.execute({"ti": _TaskInstance()})
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(spec.profile)
    end, cpu_end = time.perf_counter(), time.process_time()
    activities = summary.pop("activities", [])
    first, last = marks.get("first_post", end), marks.get("last_post_done", end)
    result = {
        "summary": summary,
        "activities": len(activities),
        "api_error_count": sum(int(a.get("error_count") or 0) for a in activities),
        "items_total": sum(int(a.get("items_total_count") or 0) for a in activities),
        "seconds": end - start,
        "cpu_seconds": cpu_end - cpu_start,
        "cpu_after_staging_seconds": cpu_end - marks.get("cpu_at_first_post", cpu_end),  # HTTP and polling
        "phase_prepare_seconds": first - start,  # list, read, check, stage to disk (until the first POST)
        "phase_upload_seconds": last - first,  # from the first POST to the last answer (custom fields included)
        "phase_wait_seconds": end - last,  # polling until every activity completed
        "max_rss_mb": _max_rss_mb(),
        "rss_before_upload_mb": marks.get("rss_before_upload_mb", float("nan")),
        "rss_after_imports_mb": rss_after_imports,
    }
    print(json.dumps(result, default=str))


# -- reading the sandbox's stats -------------------------------------------------------------------


def request_breakdown(stats: dict[str, Any]) -> dict[str, int]:
    """Group ``stats["requests"]`` (every non-admin request, faulted ones included) by purpose."""
    groups = {"imports": 0, "token": 0, "lists": 0, "custom fields": 0, "activity polls": 0, "other": 0}
    for route, count in stats["requests"].items():
        if route in IMPORT_ROUTES:
            groups["imports"] += count
        elif route == TOKEN_ROUTE:
            groups["token"] += count
        elif "/contact_lists" in route:
            groups["lists"] += count
        elif "/contact_custom_fields" in route:
            groups["custom fields"] += count
        elif route in POLL_ROUTES:
            groups["activity polls"] += count
        else:
            groups["other"] += count
    groups["total"] = sum(stats["requests"].values())
    groups["total excluding polls"] = groups["total"] - groups["activity polls"]
    return groups


def check_run(result: dict[str, Any], stats: dict[str, Any], counts: dict[str, int]) -> list[str]:
    """Return what is wrong (empty when the run balances exactly and nothing was truncated or duplicated)."""
    s = result["summary"]
    problems = []
    if s["rows_read"] != s["rows_imported"] + s["rows_rejected"] + s["rows_rejected_by_api"]:
        problems.append("rows_read != rows_imported + rows_rejected + rows_rejected_by_api")
    if stats["truncations"] or stats["contacts_dropped"]:
        problems.append(f"{stats['truncations']} truncation(s), {stats['contacts_dropped']} contacts dropped")
    if stats["import_posts"] != s["requests"]:
        problems.append(f"the sandbox processed {stats['import_posts']} import POSTs; the summary says {s['requests']}")
    expected_members = s["rows_imported"] - s["rows_not_added_unsubscribed"]
    if counts["list_members"] != expected_members:
        problems.append(f"the list has {counts['list_members']} members; expected {expected_members}")
    if counts["account_contacts"] != s["rows_imported"]:
        problems.append(f"the account has {counts['account_contacts']} contacts; rows_imported is {s['rows_imported']}")
    return problems


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(RunSpec(**json.loads(sys.argv[2])))
    else:
        raise SystemExit("Run bench/import_end_to_end.py or bench/soak.py; this module is their helper.")

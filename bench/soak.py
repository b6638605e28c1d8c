"""
Soak: import a synthetic contacts CSV through the sandbox while about ``--fault-rate`` of the requests fail
transiently, and check that nothing is lost and nothing is imported twice.

    .venv/bin/python bench/soak.py --rows 1000000 --fault-rate 0.05 [--operator csv|json|both]

Not a test and not run by CI (a 1M-row run takes a few minutes). The data, the sandbox (a subprocess with
the real rate limits: 4 requests/s, token endpoint 1/s) and the operator runs are those of
``bench/import_end_to_end.py``. While an operator runs, a background thread reads
``GET /__sandbox__/stats`` every 0.1 s and counts the new requests; every ``1 / --fault-rate`` requests
(a seeded schedule, so the share is what was asked for even over the few requests a bulk import makes)
it arms a one-shot fault (``POST /__sandbox__/faults``, ``count=1``) on the path of the request it just
saw (routes with an id in the path are skipped), which the next request there gets. The kinds take
turns, in a seeded order:

- ``503`` and ``500`` (error bodies as the API sends them), ``429`` ``throttled``;
- a dropped connection (the socket closed without an answer, in the middle of an upload for imports);
- a slow answer: 5 s, then ``503``.

Before each run one fault is armed on the token endpoint (503) and one on ``GET /v3/contact_lists``
(429), on top of the rate, so that the start-up requests are hit too. The sandbox answers a
faulted request before the API behind it sees it, so no fault here can create an activity: a second
activity for the same contacts could only come from the client posting twice (which the check below
would catch). What it does not emulate: an import processed whose answer is lost on the way back.

Checks per run: ``rows_read == rows_imported + rows_rejected + rows_rejected_by_api``; the list's
member count and the account's contact count in the sandbox equal ``rows_imported``; the import POSTs
the sandbox processed (``import_posts``) equal the summary's ``requests``; zero truncations.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_common import RunSpec, SandboxProcess, check_run, request_breakdown, run_operator  # noqa: E402
from format_csv import synthetic  # noqa: E402

#: Fault kinds, drawn in turn at random: name -> the body of ``POST /__sandbox__/faults``.
KINDS: dict[str, dict[str, Any]] = {
    "503": {"status": 503},
    "500": {"status": 500},
    "429 throttled": {"status": 429},
    "dropped connection": {"status": 503, "drop_connection": True},
    "slow (5 s, then 503)": {"status": 503, "delay": 5},
}
#: Armed before each run (on top of the rate), so that the start-up requests are hit too.
OPENING_FAULTS = (("POST", "/oauth2/default/v1/token", "503"), ("GET", "/v3/contact_lists", "429 throttled"))


class FaultSchedule:
    """Which requests get a fault (one every ``1 / rate``), and of which kind (in turns, seeded order)."""

    def __init__(self, rate: float, seed: int) -> None:
        order = list(KINDS)
        random.Random(seed).shuffle(order)
        self.rate, self.kinds, self.credit = rate, itertools.cycle(order), 0.5

    def start_run(self) -> None:
        self.credit = 0.5  # each run gets its share, whatever the previous one left

    def due(self, new_requests: int) -> list[str]:
        """Count ``new_requests``; return the kinds of the faults now due."""
        self.credit += new_requests * self.rate
        kinds = []
        while self.credit >= 1:
            self.credit -= 1
            kinds.append(next(self.kinds))
        return kinds


class FaultInjector(threading.Thread):
    """Arm the faults that ``schedule`` says are due, each on the path of the request that made it due."""

    def __init__(self, sandbox: SandboxProcess, schedule: FaultSchedule) -> None:
        super().__init__(name="fault-injector", daemon=True)
        self.sandbox, self.schedule = sandbox, schedule
        schedule.start_run()
        self.stop_event = threading.Event()
        self.armed: dict[str, tuple[str, str]] = {}  # fault id -> (route, kind)
        self.seen: Counter[str] = Counter()
        self.error: BaseException | None = None

    def arm(self, method: str, path: str, kind: str) -> None:
        fault = self.sandbox.admin("POST", "faults", {"path": path, "method": method, "count": 1, **KINDS[kind]})
        self.armed[fault["fault_id"]] = (f"{method} {path}", kind)

    def run(self) -> None:
        try:
            while not self.stop_event.wait(0.1):
                requests = self.sandbox.stats()["requests"]
                for route, count in requests.items():
                    new = count - self.seen[route]
                    self.seen[route] = count
                    method, _, path = route.partition(" ")
                    if "{" in path:  # a template (an id in the path): no fixed path to arm a fault on
                        continue
                    for kind in self.schedule.due(new):
                        self.arm(method, path, kind)
        except BaseException as err:  # report it in the main thread
            self.error = err

    def finish(self) -> dict[str, Any]:
        """Stop, disarm what is left, and return the faults served by kind and route."""
        self.stop_event.set()
        self.join()
        if self.error is not None:
            raise RuntimeError(f"The fault injector failed: {self.error!r}")
        unserved = {fault["fault_id"] for fault in self.sandbox.admin("GET", "faults")["faults"]}
        self.sandbox.admin("DELETE", "faults")
        served = [spec for fault_id, spec in self.armed.items() if fault_id not in unserved]
        return {
            "armed": len(self.armed),
            "served": len(served),
            "by_kind": dict(Counter(kind for _, kind in served)),
            "by_route": dict(Counter(route for route, _ in served)),
        }


def soak_one(
    sandbox: SandboxProcess, operator: str, source: Path, schedule: FaultSchedule, args: argparse.Namespace
) -> dict[str, Any]:
    sandbox.reset()
    injector = FaultInjector(sandbox, schedule)
    for method, path, kind in OPENING_FAULTS:
        injector.arm(method, path, kind)
    spec = RunSpec(
        operator=operator,
        source=str(source),
        list_name=f"Soak {operator}",
        rejects_path=str(args.workdir / f"soak_rejects_{operator}.csv"),
        poll_interval=args.poll_interval,
        connection=sandbox.connection,
        airflow_home=str(args.workdir / "airflow_home"),
    )
    injector.start()
    try:
        result = run_operator(spec, args.workdir / f"soak_log_{operator}.txt")
    finally:
        faults = injector.finish()
    stats = sandbox.stats()
    counts = sandbox.contact_counts(result["summary"]["list_ids"][0])
    result.update(stats=stats, counts=counts, faults=faults, breakdown=request_breakdown(stats))
    result["problems"] = check_run(result, stats, counts)
    if stats["faults_served"] != faults["served"]:
        result["problems"].append(f"the sandbox served {stats['faults_served']} faults; {faults['served']} expected")
    return result


def table(runs: dict[str, dict[str, Any]], rows: int) -> str:
    ops = list(runs)
    lines = ["| | " + " | ".join(f"`{op}`" for op in ops) + " |", "|---|" + "---:|" * len(ops)]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(runs[op]) for op in ops) + " |")

    row("wall time (s)", lambda r: f"{r['seconds']:.1f}")
    row("rows/s (wall)", lambda r: f"{rows / r['seconds']:,.0f}")
    row("peak RSS of the importer (MB)", lambda r: f"{r['max_rss_mb']:.0f}")
    row("requests in all (faulted ones included)", lambda r: str(r["breakdown"]["total"]))
    row(
        "... imports / token / lists / custom fields / polls",
        lambda r: " / ".join(
            str(r["breakdown"][k]) for k in ("imports", "token", "lists", "custom fields", "activity polls")
        ),
    )
    row(
        "faults served (share of requests)",
        lambda r: f"{r['faults']['served']} ({r['faults']['served'] / r['breakdown']['total']:.1%})",
    )
    row(
        "faults armed but never hit (no later request on that path)",
        lambda r: str(r["faults"]["armed"] - r["faults"]["served"]),
    )
    for kind in KINDS:
        row(f"... {kind}", lambda r, kind=kind: str(r["faults"]["by_kind"].get(kind, 0)))
    row(
        "import POSTs processed = requests in the summary",
        lambda r: f"{r['stats']['import_posts']} = {r['summary']['requests']}",
    )
    row(
        "rows read = imported + rejected + rejected by API",
        lambda r: (
            f"{r['summary']['rows_read']:,} = {r['summary']['rows_imported']:,} + "
            f"{r['summary']['rows_rejected']:,} + {r['summary']['rows_rejected_by_api']:,}"
        ),
    )
    row(
        "list members / contacts in the sandbox",
        lambda r: f"{r['counts']['list_members']:,} / {r['counts']['account_contacts']:,}",
    )
    row("truncations", lambda r: str(r["stats"]["truncations"]))
    row("result", lambda r: "OK" if not r["problems"] else "FAILED: " + "; ".join(r["problems"]))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--fault-rate", type=float, default=0.05, help="share of requests that get a fault")
    parser.add_argument("--operator", choices=("csv", "json", "both"), default="both")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between activity polls")
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--rounds", type=int, default=1, help="import the file this many times with each operator")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cc_provider_bench")
    args = parser.parse_args()
    if not 0 <= args.fault_rate < 1:
        parser.error("--fault-rate must be from 0 to 1.")
    args.workdir.mkdir(parents=True, exist_ok=True)
    operators = ["csv", "json"] if args.operator == "both" else [args.operator]
    source = synthetic(args.workdir, args.rows)
    print(
        f"Soak: {args.rows:,} rows, about {args.fault_rate:.0%} of requests faulted (seed {args.seed}); sandbox "
        f"with the real rate limits; poll interval {args.poll_interval:g} s.",
        flush=True,
    )
    runs: dict[str, dict[str, Any]] = {}
    schedule = FaultSchedule(args.fault_rate, args.seed)
    with SandboxProcess(args.workdir / "soak_sandbox_log.txt") as sandbox:
        for name in [f"{op} #{n}" if args.rounds > 1 else op for n in range(1, args.rounds + 1) for op in operators]:
            runs[name] = result = soak_one(sandbox, name.split()[0], source, schedule, args)
            print(
                f"{name}: {result['seconds']:.1f} s, peak RSS {result['max_rss_mb']:.0f} MB, "
                f"{result['breakdown']['total']} requests, {result['faults']['served']} faults served "
                f"{result['faults']['by_kind']} on {result['faults']['by_route']}; "
                f"{'OK' if not result['problems'] else 'FAILED: ' + '; '.join(result['problems'])}",
                flush=True,
            )
    print(f"\nSoak: {args.rows:,} rows, fault rate {args.fault_rate:.0%}:\n")
    print(table(runs, args.rows))
    served = sum(r["faults"]["served"] for r in runs.values())
    total = sum(r["breakdown"]["total"] for r in runs.values())
    print(f"\nFaults served over the soak: {served} of {total} requests ({served / total:.1%}).")
    if any(r["problems"] for r in runs.values()):
        raise SystemExit("The soak found lost, duplicated or truncated contacts: see FAILED above.")


if __name__ == "__main__":
    main()

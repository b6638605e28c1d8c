"""
Benchmark: import a synthetic contacts CSV end to end through the sandbox with both import operators.

    .venv/bin/python bench/import_end_to_end.py --rows 1000000 [--operator csv|json|both] [--shape wide|narrow]

1. Writes (once, cached in ``--workdir``) the same synthetic file as ``bench/format_csv.py``: 16 V2
   columns ("Email address" ... "Custom Field 1"), about 1% malformed emails, 1% duplicates in another
   case, 0.5% impossible anniversaries, some non-ASCII names (``--shape narrow``: 4 columns instead).
   Both operators get ``column_map={"Work Phone": "phone", "Home Phone": None}`` (see ``COLUMN_MAP``
   in ``e2e_common.py``: the CSV file import takes no ``work_phone``/``home_phone`` column).
2. Starts ``python -m cc_sandbox`` in a subprocess with the real rate limits (4 requests a
   second and 10,000 a day per client id, 1 a second on the token endpoint; ``--no-limits`` turns them
   off) and fast activities (start after 0.05 s, 50,000 rows a second each).
3. For each operator: resets the sandbox, runs the operator in a fresh interpreter (``execute`` with a
   stand-in task instance, ``list_names=["Bench <op>"]``, ``create_custom_fields=True``,
   ``wait_for_completion=True, deferrable=False``, ``poll_interval=--poll-interval``, default 1 s), then
   reads ``GET /__sandbox__/stats`` and the sandbox's own contact counts (those reads come after the
   stats, so they are not counted).
4. Repeats step 3 at ``--memory-rows`` (default 100,000) to show that peak memory does not grow.

Reported per operator: wall time (and its phases), client CPU time, the sandbox's CPU time over the
same run (read from ``/proc``: when it is close to the upload phase, the sandbox is the bottleneck),
the least time the run's requests need at 4 a second, rows/s, the importer's peak RSS
(``ru_maxrss``: interpreter, Airflow and the provider included; the RSS right after those imports is
shown too), every HTTP request the sandbox saw grouped by purpose, truncations, and the accounting
``rows_read == rows_imported + rows_rejected + rows_rejected_by_api`` checked against the list's
member count and the account's contact count in the sandbox. The floor on import requests is
``max(ceil(valid / 39,999 or 40,000), ceil(bytes / 4,000,000))``: the data decides it, not the client.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_common import RunSpec, SandboxProcess, check_run, request_breakdown, run_operator  # noqa: E402
from format_csv import synthetic  # noqa: E402

PER_REQUEST = {"csv": 39_999, "json": 40_000}
NARROW_HEADER = ["Email address", "First Name", "Last Name", "Zip/Postal Code"]


def synthetic_narrow(workdir: Path, rows: int, seed: int = 7) -> Path:
    """4 columns (about 45 bytes a row), the same share of bad emails and duplicates as the wide file."""
    path = workdir / f"contacts_narrow_{rows}.csv"
    if path.exists():
        return path
    print(f"Writing {rows:,} narrow synthetic rows to {path} ...", flush=True)
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(NARROW_HEADER)
        for i in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email = f"user{i}.example.com"
            elif roll < 0.02 and i > 10:
                email = f"USER{rng.randrange(i)}@Example{rng.randrange(i) % 50}.com"
            else:
                email = f"user{i}@example{i % 50}.com"
            writer.writerow([email, "Ada", "Lovelace", f"{i % 90000 + 10000:05d}"])
    return path


def run_one(
    sandbox: SandboxProcess,
    operator: str,
    source: Path,
    workdir: Path,
    args: argparse.Namespace,
    profile: Path | None = None,
) -> dict[str, Any]:
    sandbox.reset()
    spec = RunSpec(
        operator=operator,
        source=str(source),
        list_name=f"Bench {operator}",
        rejects_path=str(workdir / f"rejects_{operator}_{source.stem}.csv"),
        poll_interval=args.poll_interval,
        connection=sandbox.connection,
        airflow_home=str(workdir / "airflow_home"),
        profile=str(profile) if profile else None,
    )
    cpu_before = sandbox.cpu_seconds()
    result = run_operator(spec, workdir / f"log_{operator}_{source.stem}.txt")
    result["sandbox_cpu_seconds"] = sandbox.cpu_seconds() - cpu_before
    stats = sandbox.stats()
    counts = sandbox.contact_counts(result["summary"]["list_ids"][0])
    result.update(
        stats=stats, counts=counts, breakdown=request_breakdown(stats), problems=check_run(result, stats, counts)
    )
    s = result["summary"]
    result["floor"] = max(math.ceil(s["rows_valid"] / PER_REQUEST[operator]), math.ceil(s["bytes"] / 4_000_000))
    # 4 requests a second: the least time the requests of the run need at the API's rate limit
    result["rate_limit_floor_seconds"] = max(0, result["breakdown"]["total"] - 4) / 4
    return result


def describe(operator: str, rows: int, r: dict[str, Any]) -> str:
    s, b = r["summary"], r["breakdown"]
    return (
        f"{operator}: {rows:,} rows in {r['seconds']:.1f} s ({rows / r['seconds']:,.0f} rows/s; "
        f"prepare {r['phase_prepare_seconds']:.1f} s, upload {r['phase_upload_seconds']:.1f} s, "
        f"wait {r['phase_wait_seconds']:.1f} s; client CPU {r['cpu_seconds']:.1f} s, "
        f"sandbox CPU {r['sandbox_cpu_seconds']:.1f} s), peak RSS {r['max_rss_mb']:.0f} MB "
        f"(after imports {r['rss_after_imports_mb']:.0f} MB), {s['requests']} import requests "
        f"(floor {r['floor']}), {b['total']} requests in all; "
        f"{'OK' if not r['problems'] else 'PROBLEMS: ' + '; '.join(r['problems'])}"
    )


def table(runs: dict[str, dict[str, Any]], rows: int) -> str:
    ops = list(runs)
    lines = ["| | " + " | ".join(f"`{op}` operator" for op in ops) + " |", "|---|" + "---:|" * len(ops)]

    def row(label: str, fn: Any) -> None:
        lines.append(f"| {label} | " + " | ".join(fn(runs[op]) for op in ops) + " |")

    row("wall time (s)", lambda r: f"{r['seconds']:.1f}")
    row("... reading, checking, staging (s)", lambda r: f"{r['phase_prepare_seconds']:.1f}")
    row("... uploading (s)", lambda r: f"{r['phase_upload_seconds']:.1f}")
    row("... waiting for the activities (s)", lambda r: f"{r['phase_wait_seconds']:.1f}")
    row("client CPU (s)", lambda r: f"{r['cpu_seconds']:.1f}")
    row("... of which uploading and waiting (s)", lambda r: f"{r['cpu_after_staging_seconds']:.1f}")
    row("sandbox CPU meanwhile (s)", lambda r: f"{r['sandbox_cpu_seconds']:.1f}")
    row("least time at 4 requests/s (s)", lambda r: f"{r['rate_limit_floor_seconds']:.1f}")
    row("rows/s (wall)", lambda r: f"{rows / r['seconds']:,.0f}")
    row("peak RSS of the importer (MB)", lambda r: f"{r['max_rss_mb']:.0f}")
    row("... RSS after importing Airflow + provider (MB)", lambda r: f"{r['rss_after_imports_mb']:.0f}")
    row("rows read", lambda r: f"{r['summary']['rows_read']:,}")
    row("rejected locally (bad email / duplicate / bad date)", lambda r: f"{r['summary']['rows_rejected']:,}")
    row("sent", lambda r: f"{r['summary']['rows_sent']:,}")
    row("rejected by the API", lambda r: f"{r['summary']['rows_rejected_by_api']:,}")
    row("imported", lambda r: f"{r['summary']['rows_imported']:,}")
    row(
        "read = imported + rejected + rejected by API",
        lambda r: "yes" if not any("rows_read" in p for p in r["problems"]) else "NO",
    )
    row(
        "list members / contacts in the sandbox",
        lambda r: f"{r['counts']['list_members']:,} / {r['counts']['account_contacts']:,}",
    )
    row("bytes uploaded (payloads)", lambda r: f"{r['summary']['bytes'] / 1e6:.0f} MB")
    row("import requests (floor for this data)", lambda r: f"{r['breakdown']['imports']} ({r['floor']})")
    row("token requests", lambda r: str(r["breakdown"]["token"]))
    row("list requests (find + create)", lambda r: str(r["breakdown"]["lists"]))
    row("custom field requests (read + create)", lambda r: str(r["breakdown"]["custom fields"]))
    row("activity polls", lambda r: str(r["breakdown"]["activity polls"]))
    row("**requests excluding polls**", lambda r: f"**{r['breakdown']['total excluding polls']}**")
    row("**requests in all**", lambda r: f"**{r['breakdown']['total']}**")
    row(
        "throttled (429) / truncations",
        lambda r: f"{r['stats']['throttled'] + r['stats']['token_throttled']} / {r['stats']['truncations']}",
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--operator", choices=("csv", "json", "both"), default="both")
    parser.add_argument(
        "--shape",
        choices=("wide", "narrow"),
        default="wide",
        help="wide: the 16 V2 columns of bench/format_csv.py (178 bytes a row); narrow: 4 columns (45 bytes)",
    )
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[100_000], help="extra sizes for peak memory")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="seconds between activity polls")
    parser.add_argument("--no-limits", action="store_true", help="turn the sandbox's rate limits off")
    parser.add_argument("--profile", action="store_true", help="cProfile execute() of each main run (slower)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cc_provider_bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    operators = ["csv", "json"] if args.operator == "both" else [args.operator]
    make_source = synthetic if args.shape == "wide" else synthetic_narrow
    source = make_source(args.workdir, args.rows)
    print(
        f"Sandbox: rate limits {'OFF' if args.no_limits else 'ON (4 requests/s, 10,000/day, token 1/s)'}, "
        f"activities start after 0.05 s and process 50,000 rows/s; poll interval {args.poll_interval:g} s.",
        flush=True,
    )
    everything: dict[str, Any] = {
        "rows": args.rows,
        "shape": args.shape,
        "limits": not args.no_limits,
        "poll_interval": args.poll_interval,
    }
    failed = False
    with SandboxProcess(args.workdir / "sandbox_log.txt", limits=not args.no_limits) as sandbox:
        runs: dict[str, dict[str, Any]] = {}
        for operator in operators:
            started = time.perf_counter()
            profile = args.workdir / f"profile_{operator}_{args.rows}.pstats" if args.profile else None
            runs[operator] = run_one(sandbox, operator, source, args.workdir, args, profile)
            print(
                describe(operator, args.rows, runs[operator]),
                f"[{time.perf_counter() - started:.0f} s incl. checks]",
                flush=True,
            )
            if profile:
                print(f"  profile: {profile}")
            failed |= bool(runs[operator]["problems"])
        memory: dict[int, dict[str, float]] = {}
        for rows in args.memory_rows:
            path = make_source(args.workdir, rows)
            memory[rows] = {}
            for operator in operators:
                result = run_one(sandbox, operator, path, args.workdir, args)
                print(describe(operator, rows, result), flush=True)
                memory[rows][operator] = result["max_rss_mb"]
                failed |= bool(result["problems"])
                everything.setdefault("memory_runs", {}).setdefault(str(rows), {})[operator] = result
        for operator in operators:
            memory.setdefault(args.rows, {})[operator] = runs[operator]["max_rss_mb"]
        sandbox_peak = sandbox.peak_rss_mb()
    print(f"\nImporting {args.rows:,} rows ({source.stat().st_size / 1e6:.0f} MB) end to end through the sandbox:\n")
    print(table(runs, args.rows))
    print("\n| rows | " + " | ".join(f"`{op}` peak RSS (MB)" for op in operators) + " |")
    print("|---:|" + "---:|" * len(operators))
    for rows in sorted(memory):
        print(f"| {rows:,} | " + " | ".join(f"{memory[rows][op]:.0f}" for op in operators) + " |")
    print(f"\nSandbox process peak RSS over the whole run: {sandbox_peak:.0f} MB (not the importer's).")
    for operator, r in runs.items():
        print(f"{operator} requests by route: {json.dumps(r['stats']['requests'])}")
    everything.update(runs=runs, memory={str(k): v for k, v in memory.items()}, sandbox_peak_rss_mb=sandbox_peak)
    if args.json:
        args.json.write_text(json.dumps(everything, indent=2, default=str))
    if failed:
        raise SystemExit("Some run did not balance, truncated or duplicated: see PROBLEMS above.")


if __name__ == "__main__":
    main()

"""
Benchmark: format a synthetic contacts CSV through cc_provider.contacts, side by side with a plain copy and pandas.

    .venv/bin/python bench/format_csv.py --rows 1000000

Contenders, each run in its own subprocess (so peak memory is the contender's own), best of ``--repeat``:

- ``plain copy``: ``csv.reader`` -> ``csv.writer`` into one file, no checks (the floor);
- ``cc_provider``: :class:`PreparedImport` (encoding scan, mapping, every check, dedupe, rejects file) ->
  :func:`iter_csv_chunks` (files of <= 39,999 contacts and <= 4 MB, measured on the exact bytes);
- ``cc_provider (no dedupe)``: the same without deduplication (distinct contacts are still counted, with the
  same fingerprints);
- ``pandas``: ``read_csv(dtype=str)`` + ``to_csv`` into one file, no checks (skipped, and said so, without pandas);
- ``pandas (checks)``: the same plus vectorised column renaming, stripping, the email, length, birthday and
  anniversary-format checks, first-wins dedupe and files of 39,999 rows (a subset of cc_provider's work:
  no byte measure, no date calendar or year rules, no reasons per rejected row).

Then the peak memory of the pipeline at ``--memory-rows`` (default 100,000 and 1,000,000 rows).
Times are the work only (imports and interpreter start excluded), wall clock and CPU (the CPU time
is steadier on a busy machine); peak memory is the subprocess's max RSS (``resource.getrusage``),
interpreter and imports included.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = [
    "Email address",
    "First Name",
    "Last Name",
    "Birthday_Day",
    "Birthday_Month",
    "Anniversary",
    "Job Title",
    "Company Name",
    "Work Phone",
    "Home Phone",
    "Address Line 1",
    "City",
    "State",
    "Country",
    "Zip/Postal Code",
    "Custom Field 1",
]
FIRST_NAMES = ["Ada", "Grace", "Alan", "Zoë", "José", "Linus", "Margaret", "Björn", "Chloé", "Ken"]
LAST_NAMES = ["Lovelace", "Hopper", "Turing", "Hamilton", "Ritchie", "Thompson", "Müller", "García"]
CITIES = [("London", "Greater London", "United Kingdom"), ("Boston", "Massachusetts", "United States")]
CONTENDERS = ("plain copy", "cc_provider", "cc_provider (no dedupe)", "pandas", "pandas (checks)")


def write_synthetic(path: Path, rows: int, seed: int = 7) -> None:
    """Write ``rows`` contacts with V2 headings: ~1% bad emails, ~1% duplicates, ~0.5% bad anniversaries."""
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for i in range(rows):
            roll = rng.random()
            if roll < 0.01:
                email = f"user{i}.example.com"  # no @
            elif roll < 0.02 and i > 10:
                email = f"USER{rng.randrange(i)}@Example{rng.randrange(i) % 50}.com"  # maybe a duplicate
            else:
                email = f"user{i}@example{i % 50}.com"
            city, state, country = CITIES[i % 2]
            month = i % 12 + 1
            anniversary = "2006-13-40" if rng.random() < 0.005 else f"{2000 + i % 20}-{month:02d}-{i % 28 + 1:02d}"
            writer.writerow(
                [
                    email,
                    FIRST_NAMES[i % len(FIRST_NAMES)],
                    LAST_NAMES[i % len(LAST_NAMES)],
                    str(i % 28 + 1),
                    str(month),
                    anniversary,
                    "Engineer",
                    "Analytical Engines Ltd",
                    "555-555-1234",
                    "555-555-4321",
                    f"{i % 999 + 1} Main Street",
                    city,
                    state,
                    country,
                    f"{i % 90000 + 10000:05d}",
                    f"segment-{i % 7}",
                ]
            )


# -- contenders (run in a subprocess) ----------------------------------------------------------


def run_plain_copy(source: Path, out: Path) -> dict:
    with (
        source.open(newline="", encoding="utf-8") as inp,
        (out / "copy.csv").open("w", newline="", encoding="utf-8") as o,
    ):
        writer = csv.writer(o)
        rows = 0
        for row in csv.reader(inp):
            writer.writerow(row)
            rows += 1
    return {"rows": rows - 1}


def run_cc_provider(source: Path, out: Path, dedupe: str | None) -> dict:
    from cc_provider.contacts import PreparedImport, iter_csv_chunks

    prepared = PreparedImport(source, dedupe=dedupe, rejects_path=out / "rejects.csv")
    chunks = 0
    for chunk in iter_csv_chunks(prepared.rows(), prepared.columns, directory=out):
        chunks += 1
        assert chunk.size <= 4_000_000 and chunk.contact_count <= 39_999
    counts = prepared.counts
    assert counts.rows_read == counts.rows_valid + counts.rows_rejected
    return {"rows": counts.rows_read, "valid": counts.rows_valid, "rejected": counts.rows_rejected, "chunks": chunks}


def run_pandas(source: Path, out: Path) -> dict:
    import pandas

    frame = pandas.read_csv(source, dtype=str, keep_default_na=False)
    frame.to_csv(out / "pandas.csv", index=False)
    return {"rows": len(frame)}


def run_pandas_checked(source: Path, out: Path) -> dict:
    import pandas

    from cc_provider.contacts.fields import import_name, max_length
    from cc_provider.contacts.rules import _DATE, EMAIL_PATTERN

    frame = pandas.read_csv(source, dtype=str, keep_default_na=False)
    frame = frame.rename(columns={column: import_name(column) for column in frame.columns})
    frame = frame.apply(lambda column: column.str.strip())
    email = frame["email"]
    ok = email.str.len().le(50) & email.str.fullmatch(EMAIL_PATTERN.pattern)
    for column in frame.columns:
        limit = max_length(column)
        if limit is not None and column != "email":
            ok &= frame[column].str.len().le(limit)
    month = pandas.to_numeric(frame["birthday_month"], errors="coerce")
    day = pandas.to_numeric(frame["birthday_day"], errors="coerce")
    blank = frame["birthday_month"].eq("") & frame["birthday_day"].eq("")
    ok &= blank | (month.between(1, 12) & day.between(1, 31))
    ok &= frame["anniversary"].eq("") | frame["anniversary"].str.fullmatch(_DATE.pattern)
    valid = frame[ok]
    valid = valid[~valid["email"].str.lower().duplicated()]
    for start in range(0, len(valid), 39_999):
        valid.iloc[start : start + 39_999].to_csv(out / f"chunk_{start // 39_999 + 1:04d}.csv", index=False)
    return {"rows": len(frame), "valid": len(valid)}


def child(contender: str, source: Path, out: Path) -> None:
    """Run one contender and print its figures as JSON (the parent reads them)."""
    import resource

    if contender.startswith("pandas"):
        import pandas  # noqa: F401  (the import is not timed)
    else:
        import cc_provider.contacts  # noqa: F401
    start, cpu_start = time.perf_counter(), time.process_time()
    if contender == "plain copy":
        result = run_plain_copy(source, out)
    elif contender == "cc_provider":
        result = run_cc_provider(source, out, "first")
    elif contender == "cc_provider (no dedupe)":
        result = run_cc_provider(source, out, None)
    elif contender == "pandas":
        result = run_pandas(source, out)
    elif contender == "pandas (checks)":
        result = run_pandas_checked(source, out)
    else:
        raise SystemExit(f"unknown contender {contender!r}")
    result["seconds"] = time.perf_counter() - start
    result["cpu_seconds"] = time.process_time() - cpu_start
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


# -- parent ------------------------------------------------------------------------------------


def pandas_available() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import pandas"], capture_output=True)
    return probe.returncode == 0


def measure(contender: str, source: Path, workdir: Path) -> dict:
    with tempfile.TemporaryDirectory(dir=workdir) as out:
        done = subprocess.run(
            [sys.executable, __file__, "--child", contender, "--source", str(source), "--out", out],
            capture_output=True,
            text=True,
        )
    if done.returncode != 0:
        raise SystemExit(f"{contender} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def synthetic(workdir: Path, rows: int) -> Path:
    path = workdir / f"contacts_{rows}.csv"
    if not path.exists():
        print(f"Writing {rows:,} synthetic rows to {path} ...", flush=True)
        write_synthetic(path, rows)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per contender; the best is reported")
    parser.add_argument("--memory-rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cc_provider_bench")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.out)
        return

    args.workdir.mkdir(parents=True, exist_ok=True)
    source = synthetic(args.workdir, args.rows)
    contenders = list(CONTENDERS)
    if not pandas_available():
        contenders = [c for c in contenders if not c.startswith("pandas")]
        print("pandas is NOT installed: the pandas contender is skipped (.venv/bin/pip install pandas).")
    best: dict[str, dict] = {}
    for round_number in range(1, args.repeat + 1):
        for contender in contenders:  # interleaved, so a noisy moment hurts every contender alike
            result = measure(contender, source, args.workdir)
            print(
                f"round {round_number}: {contender:<24} {result['seconds']:6.2f} s ({result['cpu_seconds']:5.2f} s CPU)"
                f"  {result['max_rss_mb']:5.0f} MB",
                flush=True,
            )
            if contender not in best or result["seconds"] < best[contender]["seconds"]:
                best[contender] = result
    copy = best["plain copy"]["seconds"]
    print(f"\nFormatting {args.rows:,} rows ({source.stat().st_size / 1e6:.0f} MB), best of {args.repeat}:\n")
    print("| contender | seconds | CPU seconds | rows/s | vs plain copy | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for contender in contenders:
        r = best[contender]
        line = f"| {contender} | {r['seconds']:.2f} | {r['cpu_seconds']:.2f} | {args.rows / r['seconds']:,.0f}"
        print(f"{line} | {r['seconds'] / copy:.2f}x | {r['max_rss_mb']:.0f} |")
    pipeline = best["cc_provider"]
    if "pandas (checks)" in best:
        print(f"\npandas (checks): {best['pandas (checks)']['valid']:,} valid.")
    print(
        f"cc_provider: {pipeline['valid']:,} valid, {pipeline['rejected']:,} rejected "
        f"(bad emails, duplicates, bad anniversaries), {pipeline['chunks']} files for contacts_file_import."
    )
    if args.memory_rows:
        print("\n| rows | cc_provider peak RSS (MB) | no dedupe peak RSS (MB) |")
        print("|---:|---:|---:|")
        for rows in args.memory_rows:
            path = synthetic(args.workdir, rows)
            with_dedupe = measure("cc_provider", path, args.workdir)["max_rss_mb"]
            without = measure("cc_provider (no dedupe)", path, args.workdir)["max_rss_mb"]
            print(f"| {rows:,} | {with_dedupe:.0f} | {without:.0f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()

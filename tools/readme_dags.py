"""
Keep the DAG excerpts in README.md equal to the code between the DAGs' ``# [START name]`` / ``# [END name]``.

README.md marks each excerpt with ``<!-- dag: dags/FILE.py NAME -->`` before a fenced python block.
``python tools/readme_dags.py`` rewrites the blocks; ``--check`` exits 1 if any is stale.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = re.compile(r"(<!-- dag: (\S+) (\S+) -->\n```python\n)(.*?)(```)", re.DOTALL)


def excerpt(path: Path, name: str) -> str:
    """Return the dedented code between ``# [START name]`` and ``# [END name]``."""
    text = path.read_text(encoding="utf-8")
    match = re.search(rf"# \[START {re.escape(name)}\]\n(.*?)# \[END {re.escape(name)}\]", text, re.DOTALL)
    if match is None:
        raise SystemExit(f"{path}: no [START {name}] / [END {name}] markers")
    return match.group(1)


def render(readme: str) -> str:
    """Return README text with every marked block replaced by its current excerpt."""
    return MARK.sub(lambda m: m.group(1) + excerpt(ROOT / m.group(2), m.group(3)) + m.group(5), readme)


def main(argv: list[str]) -> int:
    readme_path = ROOT / "README.md"
    current = readme_path.read_text(encoding="utf-8")
    fresh = render(current)
    if "--check" in argv:
        if fresh != current:
            print("README.md DAG excerpts are stale: run `python tools/readme_dags.py`.")
            return 1
        return 0
    readme_path.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

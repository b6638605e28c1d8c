"""``python -m cc_provider.auth``."""

from __future__ import annotations

import sys

from cc_provider.auth.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""Authorize the Constant Contact app once: ``python -m cc_provider.auth login | device | status``."""

from __future__ import annotations

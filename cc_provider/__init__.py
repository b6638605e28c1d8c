"""Apache Airflow provider for the Constant Contact V3 API."""

from __future__ import annotations

from cc_provider.provider_info import __version__, get_provider_info

__all__ = ["__version__", "get_provider_info"]

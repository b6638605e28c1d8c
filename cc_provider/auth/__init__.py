"""
Authorizing the app once: ``python -m cc_provider.auth login | device | status``.

A tool on top of the hook: it drives the grants of :mod:`~cc_provider.auth.grants` with the hook's drivers
and saves the refresh token to the connection's credential store.
"""

from __future__ import annotations

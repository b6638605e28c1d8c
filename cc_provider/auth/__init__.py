"""
OAuth: the protocol as pure functions (:mod:`~cc_provider.auth.grants`, used by the hook's token keeper
too), and authorizing the app once: ``python -m cc_provider.auth login | device | status``.
"""

from __future__ import annotations

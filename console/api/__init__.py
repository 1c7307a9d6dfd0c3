"""The REST API (``/api/…``, OpenAPI at ``/openapi.json``, docs at ``/docs``): the same engine and flow functions
as the CLI and Python — :class:`emufleet.groups.GroupStore`, :mod:`emufleet.pools.store`, :mod:`flows.control`,
``launch_group`` — with errors as JSON (``{"detail", "errors": [{field, line, col, message}]}``; 422 for bad
input, 409 for a group in the wrong state, 400 for other emufleet errors).
"""

from __future__ import annotations

from fastapi import APIRouter

from console.api import accounts, capture, debug, fleet, groups, pools, routines, sessions, stats, system, wall

__all__ = ["router"]

router = APIRouter()
for _module in (groups, fleet, pools, accounts, routines, capture, debug, sessions, stats, system, wall):
    router.include_router(_module.router)

"""``/api/routines``: the routine cards and a validation of the folder (every located error)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fastapi import APIRouter

from console.pages.routines import cards
from emufleet.boundary import JsonObject

if TYPE_CHECKING:
    from emufleet.errors import InputError

__all__ = ["router"]

router = APIRouter(prefix="/routines", tags=["routines"])


def _located(err: InputError) -> JsonObject:
    return {"file": str(err.file) if err.file else None, "line": err.line, "col": err.col, "field": err.field,
            "message": err.message}


@router.get("", summary="Valid routines (steps, sub-routines, sentries, tags) and the invalid ones' errors")
async def list_routines() -> JsonObject:
    valid, invalid, template_error = await asyncio.to_thread(cards)
    return {"routines": [{**{k: v for k, v in c.items() if k not in ("config", "path")},
                          "config": [p.name for p in c["config"]]} for c in valid],
            "invalid": {key: [_located(e) for e in errors] for key, errors in invalid},
            "template_error": str(template_error) if template_error else None}


@router.post("/validate", summary="Validate every routine file: located errors (empty when all are valid)")
async def validate() -> JsonObject:
    _, invalid, template_error = await asyncio.to_thread(cards)
    errors = [_located(e) for _, errs in invalid for e in errs]
    return {"valid": not errors and template_error is None, "errors": errors,
            "template_error": str(template_error) if template_error else None}

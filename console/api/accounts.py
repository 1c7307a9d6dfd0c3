"""``/api/accounts``: search (sorted, paginated), one account with its history, reset."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Query, Request
from sqlalchemy import Engine

from emufleet.boundary import JsonObject
from emufleet.errors import InputError
from emufleet.pools.query import PAGE_OFFSET_MAX

if TYPE_CHECKING:
    from emufleet.pools import AccountPage

__all__ = ["page_json", "reset_one", "router"]

router = APIRouter(prefix="/accounts", tags=["accounts"])


def _json(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat() + ("Z" if value.tzinfo is None else "")
    return value


def page_json(page: AccountPage) -> JsonObject:
    """An :class:`emufleet.accounts.AccountPage` as JSON (times ISO 8601 UTC)."""
    return {"total": page.total, "offset": page.offset, "limit": page.limit, "sort": page.sort,
            "descending": page.descending,
            "rows": [{k: _json(v) for k, v in asdict(row).items()} for row in page.rows]}


@router.get("", summary="Search accounts: text, effective state, pool; sorted and paginated in SQL")
async def search(request: Request, q: str | None = None, state: str | None = None, pool: str | None = None,
                 sort: str = "id", desc: bool = False, offset: int = Query(0, ge=0, le=PAGE_OFFSET_MAX),
                 limit: int = Query(50, ge=1, le=500)) -> JsonObject:
    from emufleet.pools import search_accounts

    page = await asyncio.to_thread(search_accounts, request.app.state.engine, text=q, state=state, pool=pool,
                                   sort=sort, descending=desc, offset=offset, limit=limit)  # a bad sort: 422
    return page_json(page)


def _record(row: object, fields: tuple[str, ...]) -> JsonObject:
    return {f: _json(getattr(row, f)) for f in fields}


@router.get("/{key}", summary="One account (id or device_account) with its executions, results and pools")
async def get(request: Request, key: str) -> JsonObject:
    from emufleet.accounts import find_account
    from emufleet.pools import account_history

    eng = request.app.state.engine
    found = await asyncio.to_thread(find_account, eng, key)
    if found is None:
        raise InputError(f"no account {key!r}", field="account")
    history = await asyncio.to_thread(account_history, eng, found.id)
    fields = ("id", "device_account", "username", "friend_code", "pool_status", "packs_opened", "shinedust",
              "failure_count", "last_error", "last_used_at", "completed_at", "lease_owner", "lease_instance",
              "leased_at", "lease_expires_at")
    return {**_record(found, fields), "pools": history.pools,
            "executions": [_record(e, ("id", "routine_name", "execution_status", "started_at", "completed_at",
                                       "duration_seconds", "error_message", "bot_instance", "orchestration_id"))
                           for e in history.executions],
            "results": [_record(r, ("id", "pool_name", "outcome", "success", "error", "packs_opened",
                                    "duration_seconds", "lease_instance", "recorded_at")) for r in history.results]}


def reset_one(eng: Engine, key: str) -> str:
    """Reset one account (id or device_account) to ``available``; returns what happened, as a sentence.

    Raises:
        InputError: no such account.
    """
    from emufleet.pools import reset_accounts

    report = reset_accounts(eng, accounts=[key])
    if report.leased:
        return f"{key} is leased by a running bot: not reset"
    return f"{key} reset to available"


@router.post("/{key}/reset", summary="Reset an account to available (skipped while a bot leases it)")
async def reset(request: Request, key: str) -> JsonObject:
    message = await asyncio.to_thread(reset_one, request.app.state.engine, key)
    return {"account": key, "message": message}

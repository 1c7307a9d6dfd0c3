"""Accounts: search (sorted, paginated in SQL), an account's detail with its execution history, and reset."""

from __future__ import annotations

import asyncio
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.forms import form_pairs
from console.pages.pools import TABLE_COLUMNS, table_query
from emufleet.boundary import JsonObject
from emufleet.db import POOL_STATUSES
from emufleet.errors import InputError

__all__ = ["router"]

router = APIRouter()


def _page(request: Request, name: str, context: JsonObject, status: int = 200) -> Response:
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(
        request, name, {"nav": "accounts", "msg": request.query_params.get("msg"), **context}, status_code=status)


@router.get("/accounts", response_class=HTMLResponse)
async def accounts(request: Request) -> Response:
    from emufleet.pools import count_by_state, search_accounts

    query = table_query(request)
    eng = request.app.state.engine
    page = await asyncio.to_thread(lambda: search_accounts(eng, **query))
    counts = await asyncio.to_thread(count_by_state, eng)

    def link(**changes: object) -> str:
        params = {"q": query["text"] or "", "state": query["state"] or "", "sort": query["sort"],
                  "desc": "1" if query["descending"] else "", "size": query["limit"],
                  "page": query["offset"] // query["limit"] + 1}
        params.update(changes)
        return "/accounts?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})

    return _page(request, "accounts.html", {"page": page, "query": query, "counts": counts, "states": POOL_STATUSES,
                                            "table_columns": TABLE_COLUMNS, "table_link": link})


@router.get("/accounts/{key}", response_class=HTMLResponse)
async def account(request: Request, key: str) -> Response:
    from emufleet.accounts import find_account
    from emufleet.pools import account_history

    eng = request.app.state.engine
    found = await asyncio.to_thread(find_account, eng, key)
    if found is None:
        raise InputError(f"no account {key!r}", field="account")
    history = await asyncio.to_thread(account_history, eng, found.id)
    return _page(request, "account_detail.html", {"account": found, "history": history})


@router.post("/accounts/{key}/reset", response_class=HTMLResponse)
async def reset(request: Request, key: str) -> Response:
    from console.api.accounts import reset_one

    await form_pairs(request)
    message = await asyncio.to_thread(reset_one, request.app.state.engine, key)
    return RedirectResponse(f"/accounts/{quote(key)}?msg={quote(message)}", status_code=303)

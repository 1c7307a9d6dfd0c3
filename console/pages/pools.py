"""Account pools (digest §12.3): the list, and one pool's details — the filters editor with a live "Matching
accounts N [Test]", include/exclude, sort, limit, auto-refresh — its accounts table (sorted and paginated in SQL)
and its stats. Create / update / delete go through :mod:`emufleet.pools.store` (what ``emufleet pools save|delete``
use); Test is :meth:`emufleet.pools.Pool.test` on the edited, unsaved definition; Refresh is :meth:`Pool.refresh`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from console.editing import pool_data, pool_file, raw_pool, validate_pool
from console.forms import FieldErrors, form_pairs, yaml_text
from emufleet.boundary import JsonObject
from emufleet.errors import InputError, PoolValidationError
from emufleet.pools import (
    COLUMNS,
    COMPARATORS,
    SORT_METHODS,
    LeaseOwner,
    Pool,
    PoolDefinition,
    PoolTestResult,
    discover,
    find_pool,
)

__all__ = ["OWNER", "pool_of", "router", "table_query"]

router = APIRouter()
NEW = "_new"
OWNER = LeaseOwner("console")
"""The lease owner the console's ``Pool`` objects carry (the console never leases: it tests, refreshes, reads)."""
TABLE_COLUMNS = ("id", "device_account", "packs_opened", "shinedust", "pool_status", "failure_count",
                 "last_used_at")


def pool_of(request: Request, definition: PoolDefinition) -> Pool:
    """A :class:`Pool` of ``definition`` on the console's database."""
    return Pool(definition, request.app.state.engine, OWNER)


def _small_number(text: str) -> bool:
    """Whether ``text`` is 1–9 ASCII digits (``int`` of it can neither fail nor be huge)."""
    return 0 < len(text) <= 9 and text.isascii() and text.isdigit()


def table_query(request: Request) -> JsonObject:
    """The accounts table's request: ``q``, ``state``, ``sort``, ``desc``, ``page`` (1-based), ``size``."""
    params = request.query_params
    page_text, size_text = params.get("page", "1"), params.get("size", "50")
    # a page link edited by hand falls back to the first page, never an error page
    page = max(1, int(page_text)) if _small_number(page_text) else 1
    size = max(1, min(500, int(size_text))) if _small_number(size_text) else 50
    sort = params.get("sort", "id")
    if sort not in COLUMNS:
        sort = "id"
    return {"text": params.get("q") or None, "state": params.get("state") or None, "sort": sort,
            "descending": params.get("desc") == "1", "offset": (page - 1) * size, "limit": size}


def _summary(request: Request) -> list[JsonObject]:
    out: list[JsonObject] = []
    for entry in discover():
        if entry.definition is None:
            out.append({"entry": entry, "stats": None})
            continue
        out.append({"entry": entry, "stats": pool_of(request, entry.definition).stats()})
    return out


def _page(request: Request, name: str, context: JsonObject, status: int = 200) -> Response:
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(
        request, name, {"nav": "pools", "msg": request.query_params.get("msg"), **context}, status_code=status)


@router.get("/pools", response_class=HTMLResponse)
async def pools(request: Request) -> Response:
    return _page(request, "pools.html", {"pools": await asyncio.to_thread(_summary, request)})


def _detail(request: Request, name: str, data: JsonObject, *, errors: list[InputError] | None = None,
            test: PoolTestResult | None = None, status: int = 200) -> Response:
    from emufleet.pools import search_accounts

    definition = None
    stats = None
    page = None
    query = table_query(request)
    if name != NEW:
        try:
            definition = find_pool(name)
        except PoolValidationError:
            definition = None
        tab = request.query_params.get("tab", "details")
        if definition is not None and tab == "accounts":
            page = search_accounts(request.app.state.engine, pool=definition.name, **query)
        elif definition is not None:  # stats read every member: not for the accounts tab, which pages in SQL
            stats = pool_of(request, definition).stats()
    return _page(request, "pool_detail.html", {
        "name": name, "is_new": name == NEW, "data": data, "errors": FieldErrors.of(errors or [], data),
        "all_errors": errors or [], "test": test, "stats": stats, "page": page, "query": query,
        "columns": sorted(COLUMNS), "comparators": COMPARATORS, "sort_methods": SORT_METHODS,
        "table_columns": TABLE_COLUMNS, "yaml": yaml_text(data), "definition": definition,
        "tab": request.query_params.get("tab", "details"), "table_link": _table_link(request, name, query)},
        status=status)


def _table_link(request: Request, name: str, query: JsonObject) -> Callable[..., str]:
    def link(**changes: object) -> str:
        params = {"tab": "accounts", "q": query["text"] or "", "state": query["state"] or "", "sort": query["sort"],
                  "desc": "1" if query["descending"] else "", "size": query["limit"],
                  "page": query["offset"] // query["limit"] + 1}
        params.update(changes)
        return f"/pools/{quote(name)}?" + urlencode({k: v for k, v in params.items() if v not in ("", None)})
    return link


@router.get("/pools/new", response_class=HTMLResponse)
async def new_pool(request: Request) -> Response:
    data = {"version": 1, "pool_name": "", "queries": [{"name": "main", "filters": [
        {"column": "pool_status", "comparator": "IN", "value": ["available"]}]}]}
    return await asyncio.to_thread(_detail, request, NEW, data)


@router.get("/pools/{name}", response_class=HTMLResponse)
async def pool_detail(request: Request, name: str) -> Response:
    definition = await asyncio.to_thread(find_pool, name)
    return await asyncio.to_thread(_detail, request, definition.name, raw_pool(definition))


def _test(request: Request, definition: PoolDefinition) -> PoolTestResult:
    return pool_of(request, definition).test(sample=10)


@router.post("/pools/_test", response_class=HTMLResponse)
async def test_fragment(request: Request) -> Response:
    """The "Matching accounts" box for the edited (unsaved) form: what ``console.js`` posts on each change."""
    pairs = await form_pairs(request)
    original = dict(pairs).get("original") or NEW
    data = pool_data(pairs)
    definition, errors = await asyncio.to_thread(validate_pool, data,
                                                 pool_file(original) if original != NEW else None)
    result = await asyncio.to_thread(_test, request, definition) if definition is not None else None
    tpl: Jinja2Templates = request.app.state.templates  # Starlette's app.state is untyped
    return tpl.TemplateResponse(
        request, "_pool_test.html", {"test": result, "all_errors": errors}, status_code=200)


@router.post("/pools/{name}", response_class=HTMLResponse)
async def save_pool(request: Request, name: str) -> Response:
    from emufleet.pools import create_pool, delete_pool, update_pool

    pairs = await form_pairs(request)
    action = dict(pairs).get("action", "save")
    if action == "delete":
        await asyncio.to_thread(delete_pool, name, engine=request.app.state.engine)
        return RedirectResponse(f"/pools?msg={quote(f'deleted pool {name}')}", status_code=303)
    if action == "refresh":
        report = await asyncio.to_thread(lambda: pool_of(request, find_pool(name)).refresh())
        return RedirectResponse(f"/pools/{quote(name)}?msg={quote(f'refreshed: {report.members} members')}",
                                status_code=303)
    data = pool_data(pairs)
    definition, errors = await asyncio.to_thread(validate_pool, data, pool_file(name) if name != NEW else None)
    if definition is None:
        return await asyncio.to_thread(_detail, request, name, data, errors=errors, status=422)
    if action == "test":
        result = await asyncio.to_thread(_test, request, definition)
        return await asyncio.to_thread(_detail, request, name, data, test=result)
    try:
        saved = await asyncio.to_thread(create_pool, definition) if name == NEW else \
            await asyncio.to_thread(update_pool, name, definition)  # typed values
    except PoolValidationError as exc:
        return await asyncio.to_thread(_detail, request, name, data, errors=[exc], status=409)
    return RedirectResponse(f"/pools/{quote(saved.name)}?msg={quote(f'saved {saved.name}')}", status_code=303)

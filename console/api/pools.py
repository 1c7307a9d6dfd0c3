"""``/api/pools``: list with stats, one pool, test (saved or unsaved), refresh, its accounts, create/update/delete
(:mod:`emufleet.pools.store`)."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

from fastapi import APIRouter, Body, Query, Request, Response

from console.editing import raw_pool, validate_pool
from console.forms import raise_all
from console.pages.pools import pool_of
from emufleet.boundary import JsonObject
from emufleet.pools import PoolDefinition, discover, find_pool
from emufleet.pools.query import PAGE_OFFSET_MAX

__all__ = ["router"]

router = APIRouter(prefix="/pools", tags=["pools"])
Definition = Body(..., description="A pool definition: the keys of a pools/*.yaml file (digest §5.2)",
                  examples=[{"pool_name": "fresh", "queries": [{"name": "q", "filters": [
                      {"column": "packs_opened", "comparator": "<", "value": 10}]}]}])


def _stats(request: Request, definition: PoolDefinition) -> JsonObject:
    stats = asdict(pool_of(request, definition).stats())
    stats["last_refresh"] = stats["last_refresh"].isoformat() + "Z" if stats["last_refresh"] else None
    return stats


def _checked(data: JsonObject, file: Path | None = None) -> PoolDefinition:
    definition, errors = validate_pool(data, file)
    if definition is None:
        raise_all(errors)
    return definition


@router.get("", summary="Every pool file with its stats, or its error")
async def list_pools(request: Request) -> list[JsonObject]:
    def read() -> list[JsonObject]:
        return [{"file": e.path.name, "pool_name": e.definition.name, "stats": _stats(request, e.definition)}
                if e.definition is not None else {"file": e.path.name, "error": str(e.error)} for e in discover()]
    return await asyncio.to_thread(read)


@router.get("/{name}", summary="One pool: its definition and stats")
async def get(request: Request, name: str) -> JsonObject:
    definition = await asyncio.to_thread(find_pool, name)  # file reads stay off the loop (issue 23 item 11)
    return {"definition": raw_pool(definition), "stats": await asyncio.to_thread(_stats, request, definition)}


@router.post("/test", summary="Resolve an unsaved definition: how many accounts match, and a sample")
async def test_unsaved(request: Request, data: JsonObject = Definition,
                       sample: int = Query(10, ge=0, le=100)) -> JsonObject:
    definition = _checked(data)
    return asdict(await asyncio.to_thread(pool_of(request, definition).test, sample))


@router.post("/{name}/test", summary="Resolve the saved pool without changing anything")
async def test(request: Request, name: str, sample: int = Query(10, ge=0, le=100)) -> JsonObject:
    return asdict(await asyncio.to_thread(lambda: pool_of(request, find_pool(name)).test(sample)))


@router.post("/{name}/refresh", summary="Resolve the pool and store its members")
async def refresh(request: Request, name: str) -> JsonObject:
    return asdict(await asyncio.to_thread(lambda: pool_of(request, find_pool(name)).refresh()))


@router.get("/{name}/accounts", summary="The pool's members (last refresh), filtered, sorted and paginated")
async def accounts(request: Request, name: str, q: str | None = None, state: str | None = None,
                   sort: str = "id", desc: bool = False, offset: int = Query(0, ge=0, le=PAGE_OFFSET_MAX),
                   limit: int = Query(50, ge=1, le=500)) -> JsonObject:
    from console.api.accounts import page_json
    from emufleet.pools import search_accounts

    definition = await asyncio.to_thread(find_pool, name)
    page = await asyncio.to_thread(search_accounts, request.app.state.engine, text=q, state=state,
                                   pool=definition.name, sort=sort, descending=desc, offset=offset, limit=limit)
    return page_json(page)


@router.post("", status_code=201, summary="Create a pool file")
def create(data: JsonObject = Definition) -> JsonObject:  # file work: FastAPI's thread pool
    from emufleet.pools import create_pool

    return raw_pool(create_pool(_checked(data)))


@router.put("/{name}", summary="Replace a pool (a different pool_name renames its file)")
def update(name: str, data: JsonObject = Definition) -> JsonObject:  # file work: FastAPI's thread pool
    from emufleet.pools import update_pool

    return raw_pool(update_pool(name, _checked(data, find_pool(name).file)))


@router.delete("/{name}", status_code=204, summary="Delete a pool (refused while its accounts are leased)")
async def delete(request: Request, name: str, force: bool = False) -> Response:
    from emufleet.pools import delete_pool

    await asyncio.to_thread(delete_pool, name, engine=request.app.state.engine, force=force)
    return Response(status_code=204)

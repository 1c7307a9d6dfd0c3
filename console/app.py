"""The console's FastAPI app: pages, the REST API under ``/api/``, live updates, ``/health``/``/ready``/``/metrics``.

:func:`create_app` builds one app for one :class:`~console.config.ConsoleConfig`; the database engine comes from
``emufleet.settings`` (``EMUFLEET_DATABASE_URL``) and Prefect from ``PREFECT_API_URL``, both read once here.
Errors are translated at this one boundary: located input errors → 422 with every field's message, a group that
is not running (or is) → 409, other emufleet errors → 400; pages render the same as an error page.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from console.config import ConsoleConfig
from console.debugger import Debuggers
from console.fleet import FleetSnapshot, Launcher, read_snapshot
from console.limits import BodyLimitMiddleware
from console.live import LiveHub
from console.reloading import ReloadBanner
from console.responses import SafeJSONResponse, safe_text, validation_error
from console.security import AccessMiddleware
from emufleet.boundary import JsonObject
from emufleet.errors import EmufleetError, InputError, OrchestrationError

__all__ = ["TEMPLATES", "create_app", "templates"]

_HERE = Path(__file__).resolve().parent
TEMPLATES = _HERE / "templates"


def _naive(value: datetime) -> datetime:
    """Naive UTC (the database's times) from a naive-UTC or aware time (Prefect's)."""
    if value.tzinfo is None:
        return value
    # through a timestamp: Prefect's times are Pendulum objects, whose own replace() is deprecated
    return datetime.fromtimestamp(value.timestamp(), tz=UTC).replace(tzinfo=None)


def _ago(value: datetime | None) -> str:
    """``5m 3s ago`` (:func:`emufleet.pools.refreshed_ago`, also for Prefect's aware times); ``never`` for ``None``."""
    from emufleet.pools import refreshed_ago

    return refreshed_ago(_naive(value) if value is not None else None)


def _when(value: datetime | None) -> str:
    if value is None:
        return "-"
    return _naive(value).strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def templates(config: ConsoleConfig) -> Jinja2Templates:
    """The page templates with the console's filters (``ago``, ``when``) and ``run_url(flow_run_id)``."""
    env = Jinja2Templates(directory=str(TEMPLATES))
    env.env.filters["ago"] = _ago
    env.env.filters["when"] = _when
    env.env.globals["run_url"] = config.flow_run_url
    env.env.globals["prefect_ui"] = config.prefect_ui_url
    return env


def _error_payload(exc: Exception) -> JsonObject:
    errors = getattr(exc, "errors", None) or [exc]
    return {"detail": str(exc), "errors": [
        {"field": getattr(e, "field", None), "line": getattr(e, "line", None), "col": getattr(e, "col", None),
         "message": getattr(e, "message", str(e))} for e in errors]}


def create_app(config: ConsoleConfig | None = None, *, engine: Engine | None = None) -> FastAPI:
    """The console app (see the module docstring). ``engine`` overrides the settings' database (tests)."""
    from console import api, pages
    from emufleet import db

    config = config or ConsoleConfig()
    eng = engine if engine is not None else db.engine()
    db.require_schema(eng)  # what every CLI command does first: a missing database is an error, not created
    tpl = templates(config)

    async def fetch() -> FleetSnapshot:
        return await read_snapshot(eng)

    hub = LiveHub(fetch, lambda snap: pages.live_fragments(tpl, snap), interval_s=config.live_interval_s)
    launcher = Launcher()
    banner = ReloadBanner()
    debuggers = Debuggers()
    tpl.env.globals["reload_rejected"] = banner.rejected

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        banner.start()
        yield
        banner.stop()
        await debuggers.close()  # each session stopped and its instance released before the console exits
        await hub.close()
        await launcher.shutdown()
        if engine is None:
            eng.dispose()

    app = FastAPI(title="emufleet console", version="1", lifespan=lifespan, default_response_class=SafeJSONResponse,
                  description="Groups, instances, pools, routines and accounts of an emufleet fleet. State-changing "
                              "requests need same-origin browsers or no Origin header; a token when not on "
                              "loopback.")
    app.state.config, app.state.engine, app.state.hub, app.state.launcher = config, eng, hub, launcher
    app.state.templates, app.state.reload, app.state.debuggers = tpl, banner, debuggers
    app.add_middleware(BodyLimitMiddleware)  # innermost: runs after the access checks, before any handler
    app.add_middleware(AccessMiddleware, config=config)
    app.mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static")

    from console.ops import router as ops_router

    app.include_router(ops_router)
    app.include_router(api.router, prefix="/api")
    app.include_router(pages.router)

    @app.get("/live", include_in_schema=False)
    async def live() -> StreamingResponse:
        return StreamingResponse(hub.stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/api/reload", tags=["reload"])
    async def reload_state() -> JsonObject:
        """Files of the watched data folders that are rejected now (the last good version keeps running)."""
        return {"rejected": [{"file": r.file, "running": r.running, "errors": list(r.errors)}
                             for r in banner.rejected()]}

    # registered for EmufleetError classes only; Starlette types every handler's exception as Exception
    def _handler(status: int) -> Callable[[Request, Exception], Awaitable[Response]]:
        async def handle(request: Request, exc: Exception) -> Response:
            if request.url.path.startswith("/api/"):
                return SafeJSONResponse(_error_payload(exc), status_code=status)
            return tpl.TemplateResponse(request, "error.html", {"error": safe_text(str(exc)), "status": status},
                                        status_code=status)
        return handle

    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(InputError, _handler(422))
    app.add_exception_handler(OrchestrationError, _handler(409))
    app.add_exception_handler(EmufleetError, _handler(400))
    return app

"""Server-rendered pages (Jinja2 templates in ``console/templates``): one module per screen of digest §12.

Every page works without JavaScript (forms post and redirect); ``static/console.js`` adds live updates (SSE),
row add/remove in the editors, and the pool editor's live "Matching accounts" count.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.templating import Jinja2Templates

from console.fleet import FleetSnapshot
from console.pages import accounts, dashboard, debug, groups, instances, pools, routines, sessions
from emufleet.boundary import JsonObject

__all__ = ["live_fragments", "router"]

router = APIRouter(include_in_schema=False)
for _module in (dashboard, groups, instances, pools, routines, debug, accounts, sessions):
    router.include_router(_module.router)


def live_fragments(tpl: Jinja2Templates, snapshot: FleetSnapshot) -> dict[str, str]:
    """The HTML of every live region (``data-live`` name → html) for one snapshot."""
    context: JsonObject = {"snap": snapshot, **instances.context(snapshot)}
    return {
        "running": tpl.get_template("_running.html").render(context),
        "instances": tpl.get_template("_instances.html").render(context),
    }

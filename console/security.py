"""Access control, one middleware: the Host check, the token, and cross-site request protection.

* **Host** (DNS rebinding): without a token only loopback names are accepted in ``Host``, so a web page whose name
  resolves to 127.0.0.1 still cannot talk to the console.
* **Token**: when the config has one, every request but ``/health`` must carry it, as ``Authorization: Bearer
  <token>`` or the ``emufleet_console`` cookie, which ``GET /login?token=…`` sets (``HttpOnly``,
  ``SameSite=Strict``) before redirecting to ``next``.
* **Cross-site requests**: a state-changing request (anything but GET/HEAD/OPTIONS) whose ``Origin`` names another
  site, or that the browser marks ``Sec-Fetch-Site: cross-site|same-site``, is refused with 403. Browsers send
  these headers on every cross-origin POST, so a form on another site cannot pause or stop a group.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp

from console.config import ConsoleConfig, is_loopback

__all__ = ["COOKIE", "AccessMiddleware"]

COOKIE = "emufleet_console"
_SAFE = ("GET", "HEAD", "OPTIONS")
_OPEN_PATHS = ("/health",)


def _host_name(host_header: str) -> str:
    return urlsplit(f"//{host_header}").hostname or ""


class AccessMiddleware(BaseHTTPMiddleware):
    """Applies the rules of the module docstring to every request."""

    def __init__(self, app: ASGIApp, config: ConsoleConfig) -> None:
        super().__init__(app)
        self.config = config

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        host = request.headers.get("host", "")
        if not self.config.token and not is_loopback(_host_name(host)):
            return PlainTextResponse(f"host {host!r} not allowed (the console without a token answers only "
                                     "loopback names)", status_code=400)
        if request.method not in _SAFE and not _same_origin(request):
            return JSONResponse({"detail": "cross-site request refused"}, status_code=403)
        if self.config.token and request.url.path not in _OPEN_PATHS:
            if request.url.path == "/login":
                return self._login(request)
            if not self._authorised(request):
                if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
                    return PlainTextResponse("token required: open /login?token=<token>", status_code=401)
                return JSONResponse({"detail": "token required"}, status_code=401,
                                    headers={"WWW-Authenticate": "Bearer"})
        return await call_next(request)

    def _authorised(self, request: Request) -> bool:
        assert self.config.token
        given = request.cookies.get(COOKIE) or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        return hmac.compare_digest(given.encode(), self.config.token.encode())

    def _login(self, request: Request) -> Response:
        assert self.config.token
        given = request.query_params.get("token", "")
        if not hmac.compare_digest(given.encode(), self.config.token.encode()):
            return PlainTextResponse("wrong token", status_code=401)
        target = request.query_params.get("next", "/")
        if not target.startswith("/") or target.startswith("//"):  # never an open redirect
            target = "/"
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, self.config.token, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response


def _same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-origin request (curl, the API clients, same-origin GET forms)
        return True
    parts = urlsplit(origin)
    return origin != "null" and (parts.scheme, parts.netloc) == (request.url.scheme, request.headers.get("host"))

"""Responses that can carry anything a request carried: JSON text may hold a lone surrogate (``"\\ud800"`` is valid
JSON), which Python cannot encode as UTF-8; echoed back in an error or a record, it made Starlette's renderer fail
with ``UnicodeEncodeError`` (a 500). Here such a character is written as its JSON escape instead."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

__all__ = ["SafeJSONResponse", "safe_text", "validation_error"]


def safe_text(text: str) -> str:
    """``text`` with any lone surrogate written as ``\\udXXX`` (for HTML pages and messages)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class SafeJSONResponse(JSONResponse):
    """Starlette's ``JSONResponse``, whose body never fails to encode (a lone surrogate becomes its escape)."""

    def render(self, content: Any) -> bytes:
        # inside a JSON string, Python's backslashreplace of U+D800 is exactly JSON's escape: \ud800
        return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8", "backslashreplace")


async def validation_error(_: Request, exc: Exception) -> Response:
    """FastAPI's 422 for a request that does not match its schema, rendered with :class:`SafeJSONResponse`."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [{"msg": str(exc)}]
    return SafeJSONResponse({"detail": jsonable_encoder(errors)}, status_code=422)

"""The names under which untyped values cross a library boundary into emufleet: each ``Any`` with one reason.

``Any`` is allowed only at a library boundary; code that handles such data uses these aliases instead of a bare
``Any`` (see docs/architecture.md "Static typing"):

* :data:`YamlValue`: a document as PyYAML/``json`` parse it (or as a pydantic validator receives it), before
  validation: any shape, so it is ``Any`` until a model has checked it.
* :data:`JsonObject`: a JSON object of heterogeneous values built for, or read back from, a serialiser that takes
  any JSON shape (FastAPI responses and request bodies, Jinja template contexts, the simulator's control socket,
  YAML files written back out). ``Any`` rather than ``object`` because readers index into nested values whose
  shape the protocol, not the type, fixes; FastAPI also reads the annotation as the response model.
* :data:`SqlColumn`, :data:`SqlOrderTerm`: SQLAlchemy column attributes and ORDER BY terms of mixed Python types
  (``int``, ``str``, ``bool``, ``datetime`` columns in one whitelist or list). SQLAlchemy's expression types are
  invariant in that type, so ``object`` would not admit them: its own stubs use ``Any`` here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:  # for the aliases only: this module stays free of SQLAlchemy at run time
    from sqlalchemy import ColumnElement
    from sqlalchemy.orm import InstrumentedAttribute

YamlValue: TypeAlias = Any
"""Raw YAML/JSON before validation (or a pydantic ``mode="before"`` validator's input): any shape."""

JsonObject: TypeAlias = dict[str, Any]
"""A JSON object with values of any JSON shape (HTTP payloads, template contexts, control-socket messages)."""

SqlColumn: TypeAlias = "InstrumentedAttribute[Any]"
"""A mapped column attribute of any Python type (``Account.id``, ``Account.last_used_at``)."""

SqlOrderTerm: TypeAlias = "ColumnElement[Any] | InstrumentedAttribute[Any]"
"""One ORDER BY term over a column of any Python type (``Account.id``, ``Account.last_used_at.desc()``)."""

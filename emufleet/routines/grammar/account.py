"""Account-pool and database actions (digest §1.5 "Account pool", "Database"; §5.6).

They go through the bot's :class:`~emufleet.routines.accounts.AccountProvider`; a bot without one fails them
with ``NoAccountPoolError`` ("no account pool configured"), never a pretend success. ``account_id`` names a
*variable* holding the account id; omitted, it means the bot's current account. Field names follow the
database (``wonder_picks_done``; the seed's ``wonder_picks`` is accepted as its old spelling).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from emufleet.durations import DurationMs
from emufleet.routines.accounts import AccountResult
from emufleet.routines.grammar.base import Step, StepBase, scalar_str
from emufleet.routines.grammar.catalog import action

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor

__all__ = ["CompleteAccount", "GetAccountField", "IncrementAccountField", "InjectNextAccount", "MarkAccountFailed",
           "ReturnAccount", "UpdateAccountField", "UpdateRoutineMetrics", "NUMERIC_FIELDS", "WRITABLE_FIELDS"]

VarName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
#: Columns ``UpdateAccountField`` may set (digest §1.5 Database, with ``wonder_picks_done`` fixed).
WRITABLE_FIELDS = ("packs_opened", "shinedust", "hourglasses", "wonder_picks_done", "last_used_at", "completed_at",
                   "pool_status", "failure_count", "last_error")
NUMERIC_FIELDS = ("packs_opened", "shinedust", "hourglasses", "wonder_picks_done", "failure_count")
READABLE_FIELDS = (*WRITABLE_FIELDS, "device_account")


def _field_checker(allowed: tuple[str, ...]) -> Any:
    def check(cls: type, value: Any) -> Any:
        if value == "wonder_picks":
            value = "wonder_picks_done"
        if value not in allowed:
            raise ValueError(f"field must be one of {', '.join(allowed)}; got {value!r}")
        return value

    return classmethod(check)


@action
class InjectNextAccount(StepBase):
    """Lease the next pool account and inject it (digest §5.6).

    ``timeout`` (bare number = ms, default 30 s) bounds the wait for an account; ``on_no_accounts`` is
    ``stop`` (fail, the default), ``wait`` (keep waiting) or ``continue`` (go on without an account).
    Sets ``device_account_id`` (the account's database id) and ``save_result`` (its device account name).
    """

    NAME = "InjectNextAccount"
    timeout: DurationMs = 30.0
    save_result: VarName | None = None
    on_no_accounts: Literal["wait", "stop", "continue"] = "stop"

    def run(self, ex: Executor) -> None:
        provider = ex.accounts()
        ex.ctx.screen_counts.clear()
        ref = ex.with_device(lambda device: provider.inject_next(
            device, timeout_s=self.timeout, on_no_accounts=self.on_no_accounts))
        if ref is None:
            return
        ex.ctx.variables.set("device_account_id", ref.id)
        if self.save_result:
            ex.ctx.variables.set(self.save_result, ref.device_account)


_COUNTERS = ("packs_opened", "cards_found", "stars_total", "keep_count")


@action
class CompleteAccount(Step):
    """Record the account's result and release it; needs ``success: true`` or an ``error``.

    ``packs_opened``, ``cards_found``, ``stars_total`` and ``keep_count`` are what the routine did with this
    account, summed by the pool's statistics: a non-negative integer or ``${var}`` (e.g. the variable a loop
    counted in). Left out, a number ``ReadNumber`` recorded from the screen (``record:``) is reported, else the
    pool provider reports what the account's actions recorded during its lease (``UpdateRoutineMetrics``,
    ``IncrementAccountField packs_opened``).
    """

    NAME = "CompleteAccount"
    account_id: VarName | None = None
    success: bool = False
    error: str | None = None
    packs_opened: str | None = None
    cards_found: str | None = None
    stars_total: str | None = None
    keep_count: str | None = None

    @field_validator(*_COUNTERS, mode="before")
    @classmethod
    def _counter(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, int) and value < 0):
            raise ValueError("must be a non-negative integer or ${variable}")
        value = scalar_str(value)
        if isinstance(value, str) and "${" not in value and not value.strip().isdigit():
            raise ValueError(f"must be a non-negative integer or ${{variable}}, got {value!r}")
        return value

    @model_validator(mode="after")
    def _outcome(self) -> CompleteAccount:
        if not self.success and not (self.error or "").strip():
            raise ValueError("CompleteAccount needs success: true or a non-empty error")
        return self

    def run(self, ex: Executor) -> None:
        def count(name: str) -> int | None:
            text = getattr(self, name)
            if text is None:
                return ex.ctx.screen_counts.get(name)  # what ReadNumber recorded from the screen, if anything
            value = ex.integer(text, name)
            if value < 0:
                raise ex.error(f"{name} must not be negative, got {value}")
            return value

        result = AccountResult(success=self.success, error=self.error, **{n: count(n) for n in _COUNTERS})
        ex.accounts().complete(ex.account_id(self.account_id), result)
        ex.ctx.screen_counts.clear()


@action
class ReturnAccount(Step):
    """Put the account back into the pool (available) and release it."""

    NAME = "ReturnAccount"
    account_id: VarName | None = None
    reason: str | None = None

    def run(self, ex: Executor) -> None:
        ex.accounts().return_account(ex.account_id(self.account_id), self.reason)
        ex.ctx.screen_counts.clear()


@action
class MarkAccountFailed(Step):
    """Mark the account failed with ``reason`` (required) and release it."""

    NAME = "MarkAccountFailed"
    account_id: VarName | None = None
    reason: str = Field(min_length=1)

    def run(self, ex: Executor) -> None:
        ex.accounts().mark_failed(ex.account_id(self.account_id), self.reason)
        ex.ctx.screen_counts.clear()


@action
class UpdateAccountField(Step):
    """Set a whitelisted column of the current account to ``value`` (``${var}``-interpolated)."""

    NAME = "UpdateAccountField"
    field: str
    value: str

    _field = field_validator("field")(_field_checker(WRITABLE_FIELDS))

    @field_validator("value", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return scalar_str(value)

    def run(self, ex: Executor) -> None:
        ex.accounts().update_field(None, self.field, ex.interpolate(self.value))


@action
class IncrementAccountField(Step):
    """Add ``amount`` (``${var}``-interpolated integer, default 1) to a numeric column."""

    NAME = "IncrementAccountField"
    field: str
    amount: str = "1"

    _field = field_validator("field")(_field_checker(NUMERIC_FIELDS))

    @field_validator("amount", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return scalar_str(value)

    def run(self, ex: Executor) -> None:
        ex.accounts().increment_field(None, self.field, ex.integer(self.amount, "amount"))


@action
class GetAccountField(Step):
    """Read a column of the current account into ``save_to``; SQL NULL yields ``default``."""

    NAME = "GetAccountField"
    field: str
    save_to: VarName
    default: str | None = None

    _field = field_validator("field")(_field_checker(READABLE_FIELDS))

    @field_validator("default", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return scalar_str(value)

    def run(self, ex: Executor) -> None:
        value = ex.accounts().get_field(None, self.field)
        if value is None:
            value = self.default
        if value is None:
            raise ex.error(f"account field {self.field!r} is NULL and no default is given")
        ex.ctx.variables.set(self.save_to, value)


@action
class UpdateRoutineMetrics(Step):
    """Record ``packs_opened`` / ``wonder_picks_done`` (interpolated integers; at least one) on the execution."""

    NAME = "UpdateRoutineMetrics"
    packs_opened: str | None = None
    wonder_picks_done: str | None = None

    @field_validator("packs_opened", "wonder_picks_done", mode="before")
    @classmethod
    def _string(cls, value: Any) -> Any:
        return scalar_str(value)

    @model_validator(mode="after")
    def _one(self) -> UpdateRoutineMetrics:
        if self.packs_opened is None and self.wonder_picks_done is None:
            raise ValueError("UpdateRoutineMetrics needs packs_opened or wonder_picks_done")
        return self

    def run(self, ex: Executor) -> None:
        def value(text: str | None, name: str) -> int | None:
            return None if text is None else ex.integer(text, name)

        ex.accounts().update_routine_metrics(packs_opened=value(self.packs_opened, "packs_opened"),
                                             wonder_picks_done=value(self.wonder_picks_done, "wonder_picks_done"))

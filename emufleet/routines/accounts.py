"""The account interface the routine actions use (digest §1.5 "Account pool" and "Database", §5.6).

The routine engine only knows this protocol; :mod:`emufleet.pools.provider` implements it on the database
(leases with TTL and heartbeat). Without a provider, account actions raise ``NoAccountPoolError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from emufleet.device.interface import DeviceLike

__all__ = ["AccountProvider", "AccountRef", "AccountResult", "OnNoAccounts"]

OnNoAccounts = Literal["wait", "stop", "continue"]


@dataclass(frozen=True, slots=True)
class AccountRef:
    """An account leased to this bot: database id and the game's device account name."""

    id: int
    device_account: str
    pool: str | None = None


@dataclass(frozen=True, slots=True)
class AccountResult:
    """What ``CompleteAccount`` reports (digest §5.5 AccountResult)."""

    success: bool
    error: str | None = None
    packs_opened: int | None = None
    cards_found: int | None = None
    stars_total: int | None = None
    keep_count: int | None = None


@runtime_checkable
class AccountProvider(Protocol):
    """Account operations for one bot. ``account_id=None`` means the bot's current account.

    Errors: ``NoAccountsAvailable`` (pool empty past the timeout with ``on_no_accounts="stop"``),
    ``LeaseError`` (not the owner / unknown account), ``DeviceError`` (injection failed).
    """

    @property
    def current(self) -> AccountRef | None:
        """The account currently leased and injected by this bot, if any."""
        ...

    def inject_next(self, device: DeviceLike, *, timeout_s: float, on_no_accounts: OnNoAccounts) -> AccountRef | None:
        """Lease the next account, inject it into ``device``, make it current. ``None`` only with "continue"."""
        ...

    def complete(self, account_id: int | None, result: AccountResult) -> None:
        """Record the result (completed, or failed under the pool's retry rules) and release the lease."""
        ...

    def return_account(self, account_id: int | None, reason: str | None = None) -> None:
        """Put the account back as available and release the lease."""
        ...

    def mark_failed(self, account_id: int | None, reason: str) -> None:
        """Mark the account failed (failure_count + 1, last_error) and release the lease."""
        ...

    def update_field(self, account_id: int | None, field: str, value: str) -> None:
        """``UpdateAccountField``: set a whitelisted column (digest §1.5 Database)."""
        ...

    def increment_field(self, account_id: int | None, field: str, amount: int) -> None:
        """``IncrementAccountField``: add to a whitelisted numeric column."""
        ...

    def get_field(self, account_id: int | None, field: str) -> Any:
        """``GetAccountField``: read a whitelisted column (``None`` for SQL NULL)."""
        ...

    def update_routine_metrics(self, *, packs_opened: int | None, wonder_picks_done: int | None) -> None:
        """``UpdateRoutineMetrics`` on the current routine execution; never overwritten afterwards."""
        ...

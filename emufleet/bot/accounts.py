"""One bot's accounts over a group's pools (tried in order), with a launch-wide ``max_accounts`` budget and counters.

:class:`BotAccounts` implements :class:`emufleet.routines.accounts.AccountProvider` by delegating to one
:class:`~emufleet.pools.provider.PoolAccountProvider` per pool: ``inject_next`` takes from the first pool that has
a free account, every other operation goes to the pool that leased the account. It counts what the bot finished
(for the status record and the demo summary), asks its ``gate`` (the schedule) before each lease, and stops leasing
once the launch's budget is spent (digest §9.9
``MaxAccounts``, which the seed only logged): an :class:`~emufleet.pools.budget.AccountBudget` in the shared
database, so the limit holds across every bot of the launch on every host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from emufleet.device.interface import DeviceLike
from emufleet.errors import LeaseError, NoAccountsAvailable, RoutineStopped
from emufleet.pools.budget import AccountBudget
from emufleet.pools.heartbeat import HeartbeatThread
from emufleet.pools.provider import PoolAccountProvider
from emufleet.routines.accounts import AccountRef, AccountResult, OnNoAccounts

__all__ = ["BotAccounts"]


class BotAccounts:
    """The :class:`AccountProvider` of one bot: several pools in order, a budget, counters.

    ``budget``: its launch's :class:`AccountBudget`, taken from before each lease and given back when an account
    returns unprocessed; ``None`` (a bot run without a launch): unlimited.
    """

    def __init__(self, providers: list[PoolAccountProvider], budget: AccountBudget | None = None,
                 cancel: threading.Event | None = None, gate: Callable[[], str | None] | None = None) -> None:
        if not providers:
            raise ValueError("BotAccounts needs at least one pool")
        self.providers = providers
        self.budget = budget
        self.cancel = cancel
        #: Asked before each lease: a reason not to take another account now (the group's schedule windows and
        #: daily reset, docs/farm.md), or ``None``. The account in hand is finished; the bot then runs out.
        self.gate = gate
        self.completed = 0
        self.failed = 0
        self._owner: dict[int, PoolAccountProvider] = {}
        self._current: PoolAccountProvider | None = None
        self._heartbeat: HeartbeatThread | None = None
        self.waiting = False  # inside inject_next, waiting for a free account
        #: Called (from the thread that did it) as ``on_change(kind, account, reason)`` after each lease change:
        #: ``account.leased``, ``account.completed``, ``account.failed``, ``account.returned`` (event kinds).
        self.on_change: Callable[[str, AccountRef, str | None], None] | None = None
        #: Called with the account's id on the thread that ended its lease unsuccessfully (failed, or returned
        #: unfinished), before this bot can lease again: the farm's account rule (docs/farm.md, "Quarantine"), so an
        #: account it marks failed is not leased again. Must not raise.
        self.on_unsuccessful: Callable[[int], None] | None = None

    # -- AccountProvider ---------------------------------------------------------------------------------------

    @property
    def current(self) -> AccountRef | None:
        return self._current.current if self._current is not None else None

    def inject_next(self, device: DeviceLike, *, timeout_s: float, on_no_accounts: OnNoAccounts) -> AccountRef | None:
        """Lease and inject from the first pool with a free account; waits like the pool provider does.

        While it waits for an account, :attr:`waiting` is true (a bot waiting for the pools is not stuck).
        """
        try:
            return self._inject_next(device, timeout_s=timeout_s, on_no_accounts=on_no_accounts)
        finally:
            self.waiting = False

    def _inject_next(self, device: DeviceLike, *, timeout_s: float, on_no_accounts: OnNoAccounts) -> AccountRef | None:
        if self.current is not None:
            self.return_account(None, reason="replaced by InjectNextAccount")
        closed = self.gate() if self.gate is not None else None
        if closed is not None:
            if on_no_accounts == "continue":
                return None
            raise NoAccountsAvailable(f"no new account: {closed}", pool=self.providers[0].pool.name)
        deadline = time.monotonic() + max(0.0, timeout_s)
        holding = False  # one unit of the budget, taken once and kept while waiting: one write per lease
        try:
            while True:
                if not holding:
                    if self.budget is not None and not self.budget.take():
                        if on_no_accounts == "continue":
                            return None
                        # the budget is spent: no wait can help
                        raise NoAccountsAvailable(self.budget.spent_reason(), pool=self.providers[0].pool.name)
                    holding = True
                ref = self._try_pools(device)
                if ref is not None:
                    holding = False  # spent on this lease
                    self._changed("account.leased", ref, None)
                    return ref
                exhausted = "no account free in pools " + ", ".join(p.pool.name for p in self.providers)
                if self._drained():
                    raise NoAccountsAvailable(f"{exhausted}, and none in use that could come back",
                                              pool=self.providers[0].pool.name)
                if self.cancel is not None and self.cancel.is_set():
                    raise RoutineStopped("stopped while waiting for an account")
                if time.monotonic() >= deadline and on_no_accounts != "wait":
                    if on_no_accounts == "continue":
                        return None
                    raise NoAccountsAvailable(exhausted, pool=self.providers[0].pool.name)
                pause = 0.25
                self.waiting = True
                if self.cancel is not None:
                    self.cancel.wait(pause)
                else:
                    time.sleep(pause)
        finally:
            if holding:  # no account came of it
                self._give_back()

    def reinject(self, device: DeviceLike) -> AccountRef | None:
        """Inject the current account again, keeping its lease (rung ``restart_app``); ``None`` if none is current."""
        return self._current.reinject(device) if self._current is not None else None

    def _give_back(self) -> None:
        if self.budget is not None:
            self.budget.give_back()

    def _drained(self) -> bool:
        # Nothing free and nothing leased by anyone: no account can come back, so waiting is pointless.
        return all(p.pool.stats().in_use == 0 for p in self.providers)

    def _try_pools(self, device: DeviceLike) -> AccountRef | None:
        for provider in self.providers:
            ref = provider.inject_next(device, timeout_s=0.0, on_no_accounts="continue")
            if ref is not None:
                self._owner[ref.id] = provider
                self._current = provider
                return ref
        return None

    def _provider(self, account_id: int | None) -> PoolAccountProvider:
        if account_id is None:
            if self._current is None:
                raise LeaseError("no current account (run InjectNextAccount first)")
            return self._current
        try:
            return self._owner[int(account_id)]
        except KeyError:
            raise LeaseError("not leased by this bot", account_id=account_id) from None

    def _forget(self, provider: PoolAccountProvider, account_id: int | None) -> None:
        key = account_id if account_id is not None else (provider.current.id if provider.current else None)
        if key is not None:
            self._owner.pop(int(key), None)
        if self._current is provider and provider.current is None:
            self._current = None

    def _changed(self, kind: str, ref: AccountRef | None, reason: str | None) -> None:
        if self.on_change is not None and ref is not None:
            self.on_change(kind, ref, reason)

    def _ref(self, provider: PoolAccountProvider, account_id: int | None) -> AccountRef | None:
        current = provider.current
        if account_id is None or (current is not None and current.id == int(account_id)):
            return current
        return AccountRef(int(account_id), str(account_id), provider.pool.name)

    def _end(self, account_id: int | None, end: Callable[[PoolAccountProvider], None], kind: str,
             reason: str | None) -> None:
        """End a lease through its pool's provider, report it, and forget it."""
        provider = self._provider(account_id)
        key = account_id if account_id is not None else (provider.current.id if provider.current else None)
        ref = self._ref(provider, account_id)
        kept = len(provider.unrecorded)
        end(provider)
        if kind != "account.completed" and key is not None and self.on_unsuccessful is not None:
            self.on_unsuccessful(int(key))
        if len(provider.unrecorded) > kept:  # the database refused it: kept and retried (issue 23 item 4)
            reason = f"{reason}; " if reason else ""
            reason += "not recorded yet: the database refused the write; the bot keeps it and retries"
        self._changed(kind, ref, reason)
        self._forget(provider, key)

    def complete(self, account_id: int | None, result: AccountResult) -> None:
        self._end(account_id, lambda p: p.complete(account_id, result),
                  "account.completed" if result.success else "account.failed", result.error)
        if result.success:
            self.completed += 1
        else:
            self.failed += 1

    def return_account(self, account_id: int | None, reason: str | None = None) -> None:
        self._end(account_id, lambda p: p.return_account(account_id, reason), "account.returned", reason)
        self._give_back()  # not processed: it may be leased again within the budget

    def mark_failed(self, account_id: int | None, reason: str) -> None:
        self._end(account_id, lambda p: p.mark_failed(account_id, reason), "account.failed", reason)
        self.failed += 1

    def update_field(self, account_id: int | None, field: str, value: str) -> None:
        self._provider(account_id).update_field(account_id, field, value)

    def increment_field(self, account_id: int | None, field: str, amount: int) -> None:
        self._provider(account_id).increment_field(account_id, field, amount)

    def get_field(self, account_id: int | None, field: str) -> Any:
        return self._provider(account_id).get_field(account_id, field)

    def update_routine_metrics(self, *, packs_opened: int | None, wonder_picks_done: int | None) -> None:
        if self._current is not None:
            self._current.update_routine_metrics(packs_opened=packs_opened, wonder_picks_done=wonder_picks_done)

    # -- life cycle --------------------------------------------------------------------------------------------

    def start_heartbeat(self) -> None:
        """Renew every lease of this bot on a daemon thread (it keeps beating while the bot is paused)."""
        interval = min(p.pool.definition.config.lease_ttl for p in self.providers) / 3
        self._heartbeat = HeartbeatThread(self.heartbeat, interval, name="emufleet-account-heartbeat").start()

    def heartbeat(self) -> int:
        return sum(p.heartbeat() for p in self.providers)

    def close(self, reason: str) -> None:
        """Stop the heartbeat and return every account still held (the bot ends), with their budget units."""
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        held = len(self._owner)
        for provider in self.providers:
            self._changed("account.returned", provider.current, reason)
            provider.close(reason)
        self._owner.clear()
        for _ in range(held):  # returned unprocessed: another bot of the launch may play them
            self._give_back()
        self._current = None

"""A launch's ``max_accounts`` budget in the shared database (``emufleet.pools.budget``), on SQLite and PostgreSQL:
the limit holds for concurrent takers in several threads and on two engines (two "hosts"), and for the bots'
``BotAccounts`` on top of it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from emufleet import db
from emufleet.bot import BotAccounts
from emufleet.errors import NoAccountsAvailable
from emufleet.pools import AccountBudget
from emufleet.pools.budget import delete_budgets, list_budgets
from emufleet.routines.accounts import AccountResult
from tests.pools.test_provider import DEVICE, provider


@pytest.fixture
def two_hosts(db_url: str) -> Iterator[tuple[Engine, Engine]]:
    """Two engines on one database: what two hosts sharing the accounts database have."""
    a, b = db.engine(db_url), db.engine(db_url)
    yield a, b
    a.dispose()
    b.dispose()


def together(workers: list[Callable[[], None]]) -> None:
    """Run ``workers`` in threads released at once; re-raise the first error."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work: Callable[[], None]) -> None:
        start.wait()
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_take_stops_at_the_limit_and_give_back_frees_one(db_engine: Engine) -> None:
    budget = AccountBudget.create(db_engine, "launch-1", 2)
    assert [budget.take() for _ in range(3)] == [True, True, False]
    assert budget.spent_reason() == "the launch's max_accounts (2) is reached"
    budget.give_back()
    assert budget.take() and not budget.take()
    for _ in range(4):  # more returns than takes never go below 0
        budget.give_back()
    state = budget.state()
    assert state is not None and (state.launch_id, state.max_accounts, state.taken) == ("launch-1", 2, 0)
    assert AccountBudget(db_engine, "launch-1").take()  # a second handle (another bot) sees the same row


def test_an_unlimited_budget_counts_and_never_refuses(db_engine: Engine) -> None:
    budget = AccountBudget.create(db_engine, "unlimited", None)
    assert all(budget.take() for _ in range(25))
    state = budget.state()
    assert state is not None and (state.max_accounts, state.taken) == (None, 25)


def test_a_launch_without_its_row_takes_nothing(db_engine: Engine) -> None:
    never = AccountBudget(db_engine, "never-created")
    assert not never.take() and never.state() is None
    never.give_back()  # harmless
    assert "budget is gone (launch never-created ended)" in never.spent_reason()
    ended = AccountBudget.create(db_engine, "ended", 5)
    assert ended.take()
    ended.delete()
    assert not ended.take() and list_budgets(db_engine) == []


def test_create_resets_a_row_of_the_same_launch_and_rejects_a_negative_limit(db_engine: Engine) -> None:
    first = AccountBudget.create(db_engine, "again", 1)
    assert first.take() and not first.take()
    AccountBudget.create(db_engine, "again", 3)
    assert [first.take() for _ in range(4)] == [True, True, True, False]
    with pytest.raises(ValueError, match="max_accounts must be ≥ 0"):
        AccountBudget.create(db_engine, "bad", -1)


def test_list_and_delete_budgets(db_engine: Engine) -> None:
    for name, limit in (("a", 1), ("b", None), ("c", 3)):
        AccountBudget.create(db_engine, name, limit)
    with db_engine.begin() as conn:  # "a" is the oldest
        conn.execute(update(db.LaunchBudget).where(db.LaunchBudget.launch_id == "a")
                     .values(created_at=db.utcnow() - timedelta(days=1)))
    assert [s.launch_id for s in list_budgets(db_engine)][0] == "a"
    assert delete_budgets(db_engine, ["a", "c", "missing"]) == 2 and delete_budgets(db_engine, []) == 0
    assert [(s.launch_id, s.max_accounts) for s in list_budgets(db_engine)] == [("b", None)]


def test_concurrent_takers_on_two_hosts_never_pass_the_limit(two_hosts: tuple[Engine, Engine]) -> None:
    """Eight threads on two engines try 40 takes each against a limit of 7: exactly 7 succeed."""
    a, b = two_hosts
    AccountBudget.create(a, "shared", 7)
    taken: list[int] = []
    lock = threading.Lock()

    def taker(eng: Engine) -> Callable[[], None]:
        def work() -> None:
            budget = AccountBudget(eng, "shared")  # each bot its own handle, as on each host
            mine = sum(budget.take() for _ in range(40))
            with lock:
                taken.append(mine)
        return work

    together([taker(a) for _ in range(4)] + [taker(b) for _ in range(4)])
    assert sum(taken) == 7
    state = AccountBudget(b, "shared").state()
    assert state is not None and state.taken == 7


def test_take_and_give_back_under_contention_keep_the_count(two_hosts: tuple[Engine, Engine]) -> None:
    """Takers that give back and take again: at no moment more holders than the limit, and nothing lost."""
    a, b = two_hosts
    AccountBudget.create(a, "cycling", 3)
    holders = 0
    most = 0
    successes = 0
    lock = threading.Lock()

    def cycler(eng: Engine) -> Callable[[], None]:
        def work() -> None:
            nonlocal holders, most, successes
            budget = AccountBudget(eng, "cycling")
            for _ in range(30):
                if not budget.take():
                    continue
                with lock:  # counted after the take, uncounted before the give-back: never more than the DB's
                    holders += 1
                    successes += 1
                    most = max(most, holders)
                with lock:
                    holders -= 1
                budget.give_back()
        return work

    together([cycler(a) for _ in range(3)] + [cycler(b) for _ in range(3)])
    state = AccountBudget(a, "cycling").state()
    assert state is not None and state.taken == 0
    assert most <= 3 and successes > 3  # the units went round


def test_bots_on_two_hosts_play_exactly_max_accounts(two_hosts: tuple[Engine, Engine], make_accounts) -> None:
    """Two bots (one per engine) playing accounts until refused: 4 of 10 completed, the rest untouched."""
    make_accounts(10)
    a, b = two_hosts
    AccountBudget.create(a, "launch-1", 4)
    bots = [BotAccounts([provider(eng, instance=f"bot-{i}")], AccountBudget(eng, "launch-1"))
            for i, eng in enumerate((a, b))]
    refusals: list[str] = []

    def play(bot: BotAccounts) -> Callable[[], None]:
        def work() -> None:
            while True:
                try:
                    bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
                except NoAccountsAvailable as exc:
                    refusals.append(str(exc))
                    return
                bot.complete(None, AccountResult(success=True))
        return work

    together([play(bot) for bot in bots])
    assert sum(bot.completed for bot in bots) == 4
    assert len(refusals) == 2 and all("max_accounts (4) is reached" in r for r in refusals)
    with a.connect() as conn:
        statuses = sorted(conn.scalars(select(db.Account.pool_status)))
    assert statuses == ["available"] * 6 + ["completed"] * 4


def test_a_returned_account_goes_back_to_the_budget(db_engine: Engine, make_accounts) -> None:
    make_accounts(3)
    budget = AccountBudget.create(db_engine, "launch-1", 1)
    bot = BotAccounts([provider(db_engine)], budget)
    first = bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop")
    assert first is not None
    assert bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="continue") is not None  # replaces (returns) it
    bot.complete(None, AccountResult(success=True))
    assert bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="continue") is None  # spent: continue without
    state = budget.state()
    assert state is not None and state.taken == 1 and bot.completed == 1


def test_a_bot_that_finds_no_free_account_gives_its_unit_back(db_engine: Engine, make_accounts) -> None:
    make_accounts(1)
    budget = AccountBudget.create(db_engine, "launch-1", 5)
    holder = BotAccounts([provider(db_engine, instance="bot-0")], budget)
    waiter = BotAccounts([provider(db_engine, instance="bot-1")], AccountBudget(db_engine, "launch-1"))
    assert holder.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop") is not None
    assert waiter.inject_next(DEVICE, timeout_s=0.3, on_no_accounts="continue") is None  # waited, then gave up
    state = budget.state()
    assert state is not None and state.taken == 1  # only the holder's unit


def test_a_bot_without_a_launch_has_no_limit(db_engine: Engine, make_accounts) -> None:
    make_accounts(3)
    bot = BotAccounts([provider(db_engine)])
    for _ in range(3):
        assert bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop") is not None
        bot.complete(None, AccountResult(success=True))
    assert bot.completed == 3 and list_budgets(db_engine) == []


def test_a_bot_that_ends_holding_an_account_gives_its_unit_back(db_engine: Engine, make_accounts) -> None:
    make_accounts(2)
    budget = AccountBudget.create(db_engine, "launch-1", 1)
    bot = BotAccounts([provider(db_engine)], budget)
    assert bot.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop") is not None
    bot.close("bot ended")  # e.g. a give-up: the account goes back to the pool unprocessed
    state = budget.state()
    assert state is not None and state.taken == 0
    other = BotAccounts([provider(db_engine, instance="bot-1")], AccountBudget(db_engine, "launch-1"))
    assert other.inject_next(DEVICE, timeout_s=0, on_no_accounts="stop") is not None

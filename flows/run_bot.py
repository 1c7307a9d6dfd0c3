"""``run_bot``: one bot plays its routine on its instance, under the restart policy (digest §9.3 ``runBotRoutine``,
§9.4 ``executeWithRestart``, with the seed's defects fixed).

* Every top-level step is a task (:func:`tasks.steps.run_step`); the UI shows progress step by step.
* Restart policy ``never | on_failure | always``: a bounded loop with exponential back-off that never exceeds
  ``max_restarts`` and wakes at once on stop or cancellation (the seed slept through a stop, §9.4). It is a loop
  in the subflow rather than Prefect flow retries because ``always`` restarts after a success too, and because
  the instance lock and the account lease must stay held (heartbeated) between attempts.
* The instance lock (taken by ``launch_group``, or here when run alone) and the account leases are heartbeated
  while the bot runs, pauses or waits to restart; both are released at the end, whatever the end.
* Cancelling the bot's flow run — or its launch's — from the UI, CLI or API stops the running step within one
  watcher poll (0.5 s) plus the controller's 100 ms, returns the account to the pool, frees the lock, and ends
  the run as ``Cancelled``. A killed process's account lease (pool ``lease_ttl``) and lock lease (60 s) expire.
* ``routine_executions`` rows are written by the pool provider for the account actually injected.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Literal
from uuid import UUID

from prefect import flow, get_run_logger, tags
from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.orchestration import PrefectClient, get_client
from prefect.context import get_run_context
from prefect.states import Cancelled, Completed, Failed, State
from pydantic import BaseModel, Field

from adapters.locks import InstanceLock, claim, limit_name, release, try_acquire
from adapters.registry import group_tag, status_labels
from adapters.runtime import BotHandle, LaunchRuntime, current_runtime
from emufleet.bot.assets import EngineAssets, load_assets
from emufleet.errors import InstanceConflictError, NoAccountsAvailable, RoutineStopped
from emufleet.groups import TERMINAL_STATES, BotState, BotStatus, RestartPolicy
from tasks.steps import DRAINED, call_step, step_label

__all__ = ["BotResult", "BotSpec", "Outcome", "bot_tags", "run_bot"]

STATUS_FLUSH_S = 1.0
Outcome = Literal["succeeded", "failed", "stopped", "drained"]  # drained: the pools had no free account


class BotSpec(BaseModel):
    """Everything one bot needs, as plain data (a flow-run parameter)."""

    group: str
    bot: int = Field(ge=0)
    serial: str
    routine: str
    routine_config: dict[str, str] = Field(default_factory=dict)
    pools: list[str] = Field(default_factory=list)
    restart_policy: RestartPolicy = RestartPolicy()
    repeat: bool = False
    connect_timeout_s: float = Field(default=60.0, gt=0)
    validate_templates: bool = True
    lock_lease_id: UUID | None = None  # the lock launch_group took for this bot; None: take it here
    database_url: str | None = None


class BotResult(BaseModel):
    """How a bot ended: final status, attempts, errors, and its clocks (seconds): ``wall_s`` inside the flow,
    ``step_s`` around the step task calls, ``engine_s`` inside the engine during them."""

    status: BotStatus
    attempts: int
    wall_s: float
    step_s: float
    engine_s: float = 0.0
    errors: list[str] = Field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        return self.status.steps_done / self.wall_s if self.wall_s > 0 else 0.0


class _Bot:
    """The state of one bot run; the flow function only sequences it."""

    def __init__(self, spec: BotSpec, flow_run_id: UUID, runtime: LaunchRuntime, client: PrefectClient) -> None:
        self.spec = spec
        self.flow_run_id = flow_run_id
        self.runtime = runtime
        self.client = client
        self.assets: EngineAssets | None = runtime.assets
        self.status = BotStatus(group=spec.group, bot=spec.bot, instance=spec.serial)
        self.cancel = threading.Event()
        self.errors: list[str] = []
        self.step_s = 0.0  # seconds around the step task calls
        self.engine_s = 0.0  # seconds inside the engine during those calls
        self.accounts = None
        self.last_account: str | None = None  # the current account, else the last one this bot had
        self._written: dict[str, object] = {}
        self._progress_id: UUID | None = None
        self.step_progress: tuple[int, int] = (0, 0)  # steps done / steps of the current attempt
        self._progress_written: tuple[int, int] = (0, 0)
        self._dirty = asyncio.Event()

    # -- status ------------------------------------------------------------------------------------------------
    def set(self, **fields: object) -> None:
        self.status = self.status.model_copy(update=fields)
        self._dirty.set()

    def _snapshot(self, handle: BotHandle | None) -> BotStatus:
        status = self.status
        if self.accounts is not None:
            current = self.accounts.current
            if current is not None:
                self.last_account = current.device_account
            status = status.model_copy(update={
                "account": self.last_account,
                "accounts_completed": self.accounts.completed, "accounts_failed": self.accounts.failed})
        if handle is not None and handle.cancelled and status.state not in TERMINAL_STATES:
            status = status.model_copy(update={"state": BotState.STOPPING})
        elif handle is not None and handle.paused and status.state is BotState.RUNNING:
            status = status.model_copy(update={"state": BotState.PAUSED})
        return status

    async def flush(self, handle: BotHandle | None = None) -> None:
        labels = status_labels(self._snapshot(handle))
        changed = {k: v for k, v in labels.items() if self._written.get(k) != v}
        if changed:
            await self.client.update_flow_run_labels(self.flow_run_id, changed)
            self._written.update(changed)

    async def status_writer(self, handle: BotHandle) -> None:
        """Write status labels and progress at most every :data:`STATUS_FLUSH_S` s, off the step path (each
        write is a server database write: per-step writes from ten bots would contend on SQLite); one bot at a time
        per launch (:meth:`adapters.runtime.LaunchRuntime.status_write`)."""
        handle.on_change.append(self._dirty)
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            async with self.runtime.status_write():
                with contextlib.suppress(Exception):  # a busy server must not fail the bot; the next flush retries
                    await self.flush(handle)
                if self.step_progress != self._progress_written:
                    await self.progress(*self.step_progress)
                    self._progress_written = self.step_progress
            await asyncio.sleep(STATUS_FLUSH_S)

    async def progress(self, done: int, total: int) -> None:
        value = 100.0 * done / total if total else 100.0
        with contextlib.suppress(Exception):
            if self._progress_id is None:
                self._progress_id = await acreate_progress_artifact(
                    value, description=f"{self.spec.group} bot {self.spec.bot} on {self.spec.serial}: steps of "
                                       "the current attempt")
            else:
                await aupdate_progress_artifact(self._progress_id, value)

    # -- engine ------------------------------------------------------------------------------------------------
    def open(self, controller: object) -> object:
        """Connect the device, build the account provider and the bot context (worker thread)."""
        from emufleet import db
        from emufleet.bot.accounts import BotAccounts
        from emufleet.device import connect
        from emufleet.pools import Pool
        from emufleet.pools.leases import LeaseOwner
        from emufleet.pools.provider import PoolAccountProvider
        from emufleet.routines import BotContext
        from tasks.phases import pool_definitions

        if self.assets is None:
            self.assets = load_assets(validate_templates=self.spec.validate_templates)
        device = connect(self.spec.serial, timeout_s=self.spec.connect_timeout_s)
        device.wait_ready(timeout_s=self.spec.connect_timeout_s)
        accounts = None
        if self.spec.pools:
            memo = self.runtime.memo
            eng = memo(("db", self.spec.database_url), lambda: db.engine(self.spec.database_url))
            definitions = memo(("pools", tuple(self.spec.pools)), lambda: pool_definitions(self.spec.pools))
            run_id = str(self.runtime.launch_run_id or self.flow_run_id)
            # One Pool per launch, viewed per bot: the bots share its refresh schedule (one refresh, not ten).
            pools = [memo(("pool", d.name), lambda d=d: Pool(d, eng, LeaseOwner(run_id))) for d in definitions]
            providers = [PoolAccountProvider(pool.for_owner(LeaseOwner(run_id, self.spec.serial)),
                                             routine=self.spec.routine, cancel=self.cancel) for pool in pools]
            accounts = BotAccounts(providers, self.runtime.budget, cancel=self.cancel)
            accounts.start_heartbeat()
            self.accounts = accounts
        return BotContext(device, self.assets.templates, self.assets.registry, controller, accounts=accounts,
                          bot_id=f"{self.spec.group}/{self.spec.bot}")

    async def attempt(self, ctx: object) -> tuple[Outcome, str | None]:
        """One run of the routine: ``(outcome, error)``. Never raises for routine or device errors."""
        from emufleet.routines import RoutineRun

        run = RoutineRun(self.assets.registry.get(self.spec.routine), ctx, overrides=self.spec.routine_config)
        try:
            await self.runtime.call(run.start)
            total = len(run.steps)
            for index in range(total):
                label = step_label(run, index)
                self.set(step=label)
                started = time.perf_counter()
                state = await call_step(run, index, f"bot{self.spec.bot} step {label}", self.runtime.executor)
                elapsed = time.perf_counter() - started
                if state.is_cancelled():
                    return "stopped", None
                if state.name == DRAINED:
                    return "drained", state.message
                if not state.is_completed():
                    raise await state.aresult(raise_on_failure=False)
                self.step_s += elapsed  # clocks of completed steps only: both sides of the overhead are known
                self.engine_s += float(await state.aresult())
                self.set(steps_done=self.status.steps_done + 1)
                self.step_progress = (index + 1, total)
            return "succeeded", None
        except Exception as exc:  # a failed attempt is the restart policy's business, not the flow's
            if _caused_by(exc, RoutineStopped):
                return "stopped", None
            if _caused_by(exc, NoAccountsAvailable):
                return "drained", str(exc)
            return "failed", f"{type(exc).__name__}: {exc}"
        finally:
            await self.runtime.call(run.close)

    def settle_account(self, outcome: Outcome, error: str | None) -> None:
        """After an attempt, an account still current failed with it, or goes back to the pool."""
        if self.accounts is None or self.accounts.current is None:
            return
        if outcome == "failed":
            self.accounts.mark_failed(None, error or "routine failed")
        else:
            self.accounts.return_account(None, reason=f"routine {outcome} without finishing the account")


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    node: BaseException | None = exc
    while node is not None and id(node) not in seen:
        if isinstance(node, kind):
            return True
        seen.add(id(node))
        node = node.__cause__ or node.__context__
    return False


async def _take_lock(client: PrefectClient, flow_run_id: UUID, serial: str) -> InstanceLock:
    await claim(client, flow_run_id, serial)
    lock = await try_acquire(client, serial, holder=flow_run_id)
    if lock is None:
        raise InstanceConflictError(f"instance {serial} is locked by another flow run")
    return lock


async def _wait(handle: BotHandle, seconds: float) -> None:
    """Sleep ``seconds`` unless the bot is stopped first."""
    event = asyncio.Event()
    handle.on_change.append(event)
    try:
        deadline = time.monotonic() + seconds
        while not handle.cancelled and (left := deadline - time.monotonic()) > 0:
            event.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=left)
    finally:
        handle.on_change.remove(event)


@flow(name="run-bot", flow_run_name="{spec.group}-bot{spec.bot}", persist_result=False, log_prints=False)
async def run_bot(spec: BotSpec) -> BotResult | State:
    """Play ``spec.routine`` on ``spec.serial`` until done, failed past the restart cap, or stopped.

    Returns a :class:`BotResult` as the data of the final state: ``Completed`` when the last attempt succeeded,
    ``Failed`` when it did not, ``Cancelled`` when stopped. Under ``launch_group`` the bots share its loaded
    template set and routine registry (:class:`adapters.runtime.LaunchRuntime`); alone, a bot loads them.
    """
    from emufleet.routines import Controller

    logger = get_run_logger()
    flow_run_id = get_run_context().flow_run.id
    runtime = current_runtime().get()
    own_runtime = runtime is None
    if runtime is None:
        runtime = LaunchRuntime(None)
    started = time.perf_counter()
    if spec.bot in runtime.started:
        runtime.started[spec.bot].set()  # the launch may create the next bot's flow run now
    async with get_client() as client:
        run_tags = set(get_run_context().flow_run.tags)
        wanted = {"emufleet", group_tag(spec.group), limit_name(spec.serial)}
        if not wanted <= run_tags:  # called on its own, not through launch_group
            await client.update_flow_run(flow_run_id, tags=sorted(run_tags | wanted))
        lock = InstanceLock(spec.serial, spec.lock_lease_id) if spec.lock_lease_id else \
            await _take_lock(client, flow_run_id, spec.serial)
        runtime.keeper.add(lock)
        bot = _Bot(spec, flow_run_id, runtime, client)
        controller = Controller()
        handle = BotHandle(spec.bot, flow_run_id, controller)
        runtime.register(handle)
        writer = asyncio.get_running_loop().create_task(bot.status_writer(handle))
        attempts, restarts, outcome, error = 0, 0, "failed", None
        try:
            ctx = await runtime.call(bot.open, controller)  # the status writer reports "starting" meanwhile
            policy = spec.restart_policy
            while not handle.cancelled:
                attempts += 1
                bot.set(state=BotState.RUNNING, restarts=restarts)
                outcome, error = await bot.attempt(ctx)
                if handle.cancelled:
                    outcome = "stopped"
                await runtime.call(bot.settle_account, outcome, error)
                if outcome == "failed":
                    bot.errors.append(error or "failed")
                    logger.warning("bot %s attempt %d failed: %s", spec.bot, attempts, error)
                if outcome in ("stopped", "drained"):
                    break
                if outcome == "succeeded" and spec.repeat:
                    continue  # the next account; not a restart
                if not policy.should_restart(succeeded=outcome == "succeeded", restarts_done=restarts):
                    break
                restarts += 1
                delay = policy.delay_s(restarts)
                bot.set(state=BotState.RESTARTING, restarts=restarts, error=error)
                logger.info("bot %s: restart %d/%d in %.1f s", spec.bot, restarts, policy.max_restarts, delay)
                await _wait(handle, delay)
                controller.reset()
                if handle.paused:
                    controller.pause()
        except Exception as exc:  # setting up the bot failed (device, pools): no attempt can run
            outcome, error = "failed", f"{type(exc).__name__}: {exc}"
            bot.errors.append(error)
            logger.error("bot %s could not start: %s", spec.bot, error)
        finally:
            bot.cancel.set()
            controller.stop()
            if bot.accounts is not None:
                await runtime.call(bot.accounts.close, "bot ended")
            succeeded = outcome in ("succeeded", "drained")
            final = BotState.STOPPED if handle.cancelled else (BotState.COMPLETED if succeeded else BotState.FAILED)
            bot.set(state=final, step=None, restarts=restarts, error=None if succeeded else error)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
            runtime.unregister(handle)
            runtime.keeper.discard(spec.serial)
            with contextlib.suppress(Exception):
                await release(client, lock)
            with contextlib.suppress(Exception):
                await bot.flush(handle)
            if own_runtime:
                await runtime.close()
    result = BotResult(status=bot._snapshot(None), attempts=attempts, wall_s=time.perf_counter() - started,
                       step_s=bot.step_s, engine_s=bot.engine_s, errors=bot.errors)
    if handle.cancelled:
        return Cancelled(message=f"bot {spec.bot} stopped", data=result)
    if not succeeded:
        return Failed(message=f"bot {spec.bot} failed after {restarts} restart(s): {error}", data=result)
    return Completed(message=f"bot {spec.bot} completed", data=result)


def bot_tags(spec: BotSpec) -> tags:
    """The tags context for starting ``run_bot(spec)`` as a subflow (group and instance claim)."""
    return tags("emufleet", group_tag(spec.group), limit_name(spec.serial))

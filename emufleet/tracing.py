"""OpenTelemetry traces of launches, bots, attempts, steps, recoveries and sampled device calls; off by default.

Turned on by the standard OpenTelemetry variables, read once per process by :func:`configure`: traces go out over
OTLP (http/protobuf) when ``OTEL_TRACES_EXPORTER`` names ``otlp`` or an OTLP endpoint is set
(``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``), unless ``OTEL_SDK_DISABLED=true`` or
``OTEL_TRACES_EXPORTER=none``. The exporter reads its own variables (endpoint, headers, timeout, compression), the
resource ``OTEL_SERVICE_NAME`` (default ``emufleet``) and ``OTEL_RESOURCE_ATTRIBUTES``, the sampler
``OTEL_TRACES_SAMPLER``/``_ARG``, the batch processor ``OTEL_BSP_*``. Any OTLP receiver takes them (Jaeger ≥ 1.35
on port 4318, Grafana Tempo, an OpenTelemetry Collector). ``EMUFLEET_TRACE_DEVICE_SAMPLE`` (0–1, default 0.01)
is the share of device calls traced (a bot makes tens per second).

Spans (``emufleet.*`` attributes; ``prefect.flow_run.id`` / ``prefect.task_run.id`` where a Prefect run exists, so
a trace finds its run and a run its trace — the engine takes them as plain strings, it never imports Prefect):

=======================  ========================================================================================
``emufleet.launch``      one launch (``emufleet.group``); its phases are children ``emufleet.launch.<phase>``
``emufleet.bot``         one bot run (group, bot, instance, host); every bot event is a span event on it
``emufleet.attempt``     one attempt of the routine (``emufleet.attempt``, ``emufleet.outcome``)
``emufleet.step``        one top-level step (``emufleet.step``, ``emufleet.step.index``, ``emufleet.step.outcome``)
``emufleet.recovery``    one rung of the recovery ladder (``emufleet.rung``, ``emufleet.fault``, ``emufleet.outcome``)
``emufleet.device.<m>``  a sampled device call (``tap``, ``screenshot``, ``shell``, …)
=======================  ========================================================================================

**Free when off**: nothing of the SDK is imported, :func:`span` returns one shared null context and the wrappers
(:func:`traced_steps`, :func:`traced_device`, :class:`TracingObserver` via :func:`traced_observer`) return what
they were given, so a bot's hot path has no instrumentation at all (``benchmarks/tracing.py`` measures it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emufleet.outcome import Outcome

if TYPE_CHECKING:
    from opentelemetry.context import Context
    from opentelemetry.trace import Span, Tracer

    from emufleet.bot.events import BotEvent
    from emufleet.bot.observer import BotObserver
    from emufleet.bot.spec import BotSpec
    from emufleet.bot.steps import StepOutcome, StepRunner
    from emufleet.groups.status import BotStatus
    from emufleet.routines import RoutineRun
    from emufleet.routines.context import MatchScore

__all__ = ["BotHooks", "BotTrace", "TracingObserver", "annotate", "bot_trace", "configure", "enabled", "instrument_bot",
           "shutdown", "span", "traced_device", "traced_observer", "traced_steps", "wanted"]

log = logging.getLogger(__name__)
Attributes = Mapping[str, str | int | float | bool | None]
DEVICE_SAMPLE_DEFAULT = 0.01
_NULL = contextlib.nullcontext()
_lock = threading.Lock()
_tracer: Tracer | None = None  # set once by configure(); None: tracing is off
_configured = False


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the OTel variables in ``environ`` (default ``os.environ``) ask for exported traces (see the module
    docstring); reads nothing else."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "").split(",") if e.strip()}
    if "none" in exporters:
        return False
    return "otlp" in exporters or bool(env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
                                        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"))


def configure(environ: Mapping[str, str] | None = None) -> bool:
    """Turn tracing on when the OTel variables ask for it (:func:`wanted`); idempotent, cheap after the first call.

    Installs a ``TracerProvider`` (batch processor, OTLP http/protobuf exporter) as the process's global provider,
    so libraries that trace (Prefect's own flow-run spans) join the same traces. Returns whether tracing is on.
    A protocol other than ``http/protobuf`` in ``OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`` is logged and tracing stays
    off (only the http exporter is installed).
    """
    global _tracer, _configured
    with _lock:
        if _configured:
            return _tracer is not None
        _configured = True
        env = os.environ if environ is None else environ
        if not wanted(env):
            return False
        protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") \
            or "http/protobuf"
        if protocol != "http/protobuf":
            log.warning("tracing off: OTLP protocol %r is not supported (use http/protobuf)", protocol)
            return False
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import OTELResourceDetector, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource({"service.name": env.get("OTEL_SERVICE_NAME") or "emufleet"}).merge(
            OTELResourceDetector().detect())
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        _tracer = trace.get_tracer("emufleet")
        log.info("tracing on: OTLP http/protobuf")
        return True


def enabled() -> bool:
    """Whether :func:`configure` turned tracing on in this process."""
    return _tracer is not None


def shutdown() -> None:
    """Export what is pending and stop the exporter (at process exit; spans started later are dropped)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    if hasattr(provider, "shutdown"):
        provider.shutdown()


def span(name: str, attributes: Attributes | None = None) -> contextlib.AbstractContextManager[Any]:
    """A span ``name`` around a block, current inside it (children nest under it); an exception escaping the block
    is recorded on it. Off: one shared null context. ``None`` attribute values are left out."""
    if _tracer is None:
        return _NULL
    return _tracer.start_as_current_span(name, attributes=_clean(attributes))


def annotate(attributes: Attributes) -> None:
    """Set ``attributes`` on the current span (e.g. a Prefect task-run id known only once the task ran)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    trace.get_current_span().set_attributes(_clean(attributes))


def _clean(attributes: Attributes | None) -> dict[str, str | int | float | bool]:
    return {k: v for k, v in (attributes or {}).items() if v is not None}


def _set_outcome(target: Span, outcome: str, error: str | None = None) -> None:
    from opentelemetry.trace import Status, StatusCode

    target.set_attribute("emufleet.outcome", outcome)
    if error:
        target.set_status(Status(StatusCode.ERROR, error[:500]))


class BotTrace:
    """One bot's spans below its ``emufleet.bot`` span: attempts, steps, recoveries and sampled device calls.

    ``span`` is the bot's own span (ended by :class:`TracingObserver` on ``bot.finished``). An attempt is seen from the
    step runner (each attempt plays a new :class:`~emufleet.routines.RoutineRun`) and ended by the bot's events
    (``bot.attempt-failed``, ``bot.finished``) or by the next attempt, so the session needs no tracing code.
    Device calls run on bot threads the context does not follow into (a Prefect task's executor), so the running
    step's context is kept here as their parent.
    """

    def __init__(self, tracer: Tracer, span: Span, device_sample: float) -> None:
        from opentelemetry import trace

        self.tracer = tracer
        self.span = span
        self.device_sample = device_sample
        self.root: Context = trace.set_span_in_context(span)
        self.parent: Context = self.root  # the running step's, else the attempt's, else the bot's
        self.attempts = 0
        self._attempt: Span | None = None
        self._attempt_context: Context = self.root
        self._run: object | None = None

    def step_started(self, run: object) -> Context:
        """A step of ``run`` starts: a new run is a new attempt. Returns the context steps nest under."""
        if run is not self._run:
            from opentelemetry import trace

            self.attempt_ended("succeeded")
            self._run = run
            self.attempts += 1
            self._attempt = self.tracer.start_span("emufleet.attempt", context=self.root,
                                                   attributes={"emufleet.attempt": self.attempts})
            self._attempt_context = trace.set_span_in_context(self._attempt, self.root)
        return self._attempt_context

    def attempt_ended(self, outcome: str, error: str | None = None) -> None:
        """End the running attempt's span (if any) with ``outcome``."""
        if self._attempt is not None:
            _set_outcome(self._attempt, outcome, error)
            self._attempt.end()
            self._attempt = None
            self.parent = self._attempt_context = self.root


class _TracedSteps:
    """A step runner (:data:`emufleet.bot.steps.StepRunner`) that wraps each step in an ``emufleet.step`` span."""

    def __init__(self, inner: StepRunner, bot: BotTrace) -> None:
        self.inner = inner
        self.bot = bot

    async def __call__(self, run: RoutineRun, index: int, label: str) -> StepOutcome:
        from opentelemetry import context

        attempt = self.bot.step_started(run)
        attributes: dict[str, str | int] = {"emufleet.step": label, "emufleet.step.index": index,
                                            "emufleet.routine": run.routine.key}
        with self.bot.tracer.start_as_current_span("emufleet.step", context=attempt, attributes=attributes) as s:
            self.bot.parent = context.get_current()
            try:
                outcome = await self.inner(run, index, label)
            finally:
                self.bot.parent = attempt
            error = f"{type(outcome.error).__name__}: {outcome.error}" if outcome.error is not None else None
            s.set_attribute("emufleet.step.outcome", str(outcome.kind))
            _set_outcome(s, str(outcome.kind), error if outcome.kind is Outcome.FAILED else None)
            return outcome


def traced_steps(runner: StepRunner, bot: BotTrace | None) -> StepRunner:
    """``runner`` with each step in a span under ``bot``'s attempt; ``runner`` itself when tracing is off."""
    return runner if bot is None else _TracedSteps(runner, bot)


_DEVICE_CALLS = frozenset({"tap", "swipe", "key_event", "input_text", "app_start", "app_stop", "shell", "su",
                           "push", "pull", "screenshot", "foreground_app", "getprop", "reboot"})


class _TracedDevice:
    """A device proxy that traces a sampled share of its calls as ``emufleet.device.<method>`` spans."""

    def __init__(self, device: Any, bot: BotTrace) -> None:
        self._device = device
        self._bot = bot

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._device, name)
        if name not in _DEVICE_CALLS or not callable(attr):
            return attr
        bot = self._bot

        def call(*args: Any, **kwargs: Any) -> Any:
            if random.random() >= bot.device_sample:
                return attr(*args, **kwargs)
            with bot.tracer.start_as_current_span(f"emufleet.device.{name}", context=bot.parent,
                                                  attributes={"emufleet.sampled": bot.device_sample}):
                return attr(*args, **kwargs)

        return call

    def __repr__(self) -> str:
        return f"traced({self._device!r})"


def traced_device(device: Any, bot: BotTrace | None) -> Any:
    """``device`` with a sampled share of its calls traced under ``bot``; ``device`` itself when tracing is off."""
    return device if bot is None else _TracedDevice(device, bot)


class TracingObserver:
    """A :class:`~emufleet.bot.observer.BotObserver` that adds each bot event to the current bot span and turns the
    recovery ladder into ``emufleet.recovery`` spans (``bot.recovering`` → ``bot.recovered`` / ``bot.rung-failed``,
    or the bot's end), then passes everything on to ``inner``."""

    def __init__(self, inner: BotObserver, bot: BotTrace) -> None:
        self.inner = inner
        self.bot = bot
        self._recovery: Span | None = None

    def status(self, status: BotStatus) -> None:
        self.inner.status(status)

    def event(self, event: BotEvent) -> None:
        kind = event.kind.value
        attributes = {f"emufleet.{k}": v for k, v in event.payload.items() if v is not None and not k.startswith("m.")}
        self.bot.span.add_event(f"emufleet.{kind}", attributes=attributes)
        if kind == "bot.recovering":
            self._end_recovery("superseded")
            self._recovery = self.bot.tracer.start_span("emufleet.recovery", context=self.bot.parent, attributes={
                "emufleet.rung": str(event.payload.get("rung")), "emufleet.fault": str(event.payload.get("fault")),
                "emufleet.reason": str(event.payload.get("reason"))})
        elif kind == "bot.recovered":
            self._end_recovery("recovered")
        elif kind == "bot.rung-failed":
            self._end_recovery("rung_failed", str(event.payload.get("error")))
        elif kind in ("bot.gave-up", "bot.finished"):
            self._end_recovery("gave_up" if kind == "bot.gave-up" else "ended")
        if kind == "bot.attempt-failed":
            self.bot.attempt_ended("failed", str(event.payload.get("error")))
        elif kind == "bot.finished":
            reason = event.payload.get("reason")
            error = reason if isinstance(reason, str) and event.payload.get("state") == "failed" else None
            self.bot.attempt_ended(str(event.payload.get("state")), error)
            _set_outcome(self.bot.span, str(event.payload.get("state")), error)
            self.bot.span.end()
        self.inner.event(event)

    def _end_recovery(self, outcome: str, error: str | None = None) -> None:
        if self._recovery is not None:
            _set_outcome(self._recovery, outcome, error)
            self._recovery.end()
            self._recovery = None

    def evidence(self, reason: str, frames: Sequence[Path], step: str | None, scores: Sequence[MatchScore]) -> None:
        self.inner.evidence(reason, frames, step, scores)

    def progress(self, done: int, total: int) -> None:
        self.inner.progress(done, total)


def bot_trace(spec: BotSpec, flow_run_id: str | None = None) -> BotTrace | None:
    """Start the ``emufleet.bot`` span of a new bot (under the current span: its Prefect flow run's) and return its
    :class:`BotTrace`, or ``None`` when tracing is off (then every wrapper below is the identity)."""
    if _tracer is None:
        return None
    try:
        sample = float(os.environ.get("EMUFLEET_TRACE_DEVICE_SAMPLE", DEVICE_SAMPLE_DEFAULT))
    except ValueError:
        log.warning("EMUFLEET_TRACE_DEVICE_SAMPLE is not a number; using %s", DEVICE_SAMPLE_DEFAULT)
        sample = DEVICE_SAMPLE_DEFAULT
    span = _tracer.start_span("emufleet.bot", attributes=_clean({
        "emufleet.group": spec.group, "emufleet.bot": spec.bot, "emufleet.instance": spec.instance.serial,
        "emufleet.host": spec.instance.host, "emufleet.routine": spec.routine, "prefect.flow_run.id": flow_run_id}))
    return BotTrace(_tracer, span, min(max(sample, 0.0), 1.0))


@dataclass(frozen=True, slots=True)
class BotHooks:
    """What a bot session is built with when traced: its observer, step runner and device factory (``connect``
    ``None``: the session's own)."""

    observer: BotObserver
    steps: StepRunner
    connect: Callable[[], Any] | None


def instrument_bot(spec: BotSpec, observer: BotObserver, steps: StepRunner, *, flow_run_id: str | None = None,
                   connect: Callable[[], Any] | None = None) -> BotHooks:
    """The hooks a :class:`~emufleet.bot.BotSession` for ``spec`` is built with: ``observer``, ``steps`` and
    ``connect`` (``None``: the session's own ADB connect) unchanged when tracing is off; traced ones (a bot span
    started now) when on."""
    bot = bot_trace(spec, flow_run_id)
    if bot is None:
        return BotHooks(observer, steps, connect)

    def traced_connect() -> Any:
        from emufleet.device import connect as adb_connect

        serial = spec.instance.serial
        device = connect() if connect is not None else adb_connect(serial, timeout_s=spec.connect_timeout_s)
        return traced_device(device, bot)

    return BotHooks(TracingObserver(observer, bot), _TracedSteps(steps, bot), traced_connect)


def traced_observer(observer: BotObserver, bot: BotTrace | None) -> BotObserver:
    """``observer`` behind a :class:`TracingObserver` for ``bot``; ``observer`` itself when tracing is off."""
    return observer if bot is None else TracingObserver(observer, bot)

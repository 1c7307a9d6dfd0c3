"""Prefect flows of emufleet: ``launch_group``, ``run_bot``, ``stop_group``/``pause_group``/``resume_group``,
``refresh_pool`` (docs/orchestration.md). Flows sequence and fan out; the work is in ``tasks`` and the engine.

Import a flow module only after the process points at a Prefect server (:func:`flows.server.use_server`):
``flows.server`` itself never imports Prefect.
"""

from emufleet import tracing

# OTEL_* variables (emufleet.tracing): set up before any flow starts, so Prefect's own flow-run spans (the parents
# of emufleet's) are recorded too; a worker's process imports this package before it runs a flow. Free when off.
tracing.configure()

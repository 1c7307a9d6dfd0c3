"""Prefect flows of emufleet: ``launch_group``, ``run_bot``, ``stop_group``/``pause_group``/``resume_group``,
``refresh_pool`` (docs/orchestration.md). Flows sequence and fan out; the work is in ``tasks`` and the engine.

Import a flow module only after the process points at a Prefect server (:func:`flows.server.use_server`):
``flows.server`` itself never imports Prefect.
"""

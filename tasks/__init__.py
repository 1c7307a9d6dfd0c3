"""Prefect tasks of emufleet: thin wrappers over one engine call each (docs/orchestration.md).

``phases`` (resolve/refresh pools, validate routine, start instance), ``steps`` (one routine step). What talks to
Prefect but is not a task (instance locks, status labels, the control channel) is in :mod:`adapters`.
"""

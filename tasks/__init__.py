"""Prefect tasks of emufleet: thin wrappers over one engine call each (docs/orchestration.md).

``phases`` (resolve/refresh pools, validate routine, start instance), ``steps`` (one routine step), ``locks``
(instance locks on Prefect global concurrency limits), ``accounts`` (a bot's accounts over several pools).
"""

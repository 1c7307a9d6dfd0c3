"""emufleet's Prefect adapters: what talks to Prefect but is neither a task nor a flow.

``locks`` (instance locks on global concurrency limits, their keeper and the fence they feed), ``registry``
(where a running group's runs and status labels live on the server), ``runtime`` (the per-process side of a
launch: lock keeper, the watcher of the operator commands kept in emufleet's database, shared assets),
``events`` (bot events on the Prefect event bus), ``automations`` (notifications and zombie clean-up shipped as
automations), ``evidence`` (failure frames as artifacts). Adapters import ``emufleet`` and ``prefect``; ``tasks``
and ``flows`` import them, never the reverse (tests/test_layering.py).
"""

"""emufleet's Prefect adapters: what talks to Prefect but is neither a task nor a flow.

``locks`` (instance locks on global concurrency limits, their keeper and the fence they feed), ``registry``
(where a running group's runs, status labels and pause commands live on the server), ``runtime`` (the per-process
side of a launch: lock keeper, command watcher, shared assets), ``events`` (bot events on the Prefect event bus),
``automations`` (notifications and zombie clean-up shipped as automations), ``evidence`` (failure frames as
artifacts). Adapters import ``emufleet`` and ``prefect``;
``tasks`` and ``flows`` import them, never the reverse (tests/test_layering.py).
"""

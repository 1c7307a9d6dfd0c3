"""Hot reload with rollback of the data folders (docs/reload.md): ``routines/``, ``templates/``, ``groups/``,
``pools/`` and ``hosts/`` are watched; a valid change reaches running bots at their next attempt boundary, an
invalid one is rejected with its located errors while the last good version keeps running, and the last few good
versions of every file are kept so that going back is one command (``emufleet reload --rollback FILE``).

Modules: :mod:`.check` (validating the folders), :mod:`.versions` (the good versions kept), :mod:`.live`
(:class:`Reloader`, :class:`LiveAssets`), :mod:`.watch` (:class:`ConfigWatcher`, on ``watchfiles``).
"""

from emufleet.reload.check import KINDS, Validation, validate
from emufleet.reload.live import FileResult, LiveAssets, Reloader, Report
from emufleet.reload.versions import KEEP, Version, VersionStore, version_of
from emufleet.reload.watch import ConfigWatcher

__all__ = ["KEEP", "KINDS", "ConfigWatcher", "FileResult", "LiveAssets", "Reloader", "Report", "Validation",
           "Version", "VersionStore", "validate", "version_of"]

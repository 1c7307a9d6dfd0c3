"""emufleet: fleets of Android game bots on emulators, orchestrated by Prefect.

The engine (this package) never imports Prefect; ``tasks/`` and ``flows/`` wrap it.
"""

from emufleet.errors import EmufleetError

__all__ = ["EmufleetError", "__version__"]
__version__ = "0.1.0"

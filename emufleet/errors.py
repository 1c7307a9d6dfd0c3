"""The exception tree of emufleet.

Every error raised by emufleet derives from :class:`EmufleetError`; foreign errors (adbutils, OpenCV,
SQLAlchemy, PyYAML, pydantic) are translated at one boundary per package with ``raise … from exc``::

    EmufleetError
    ├── InputError(ValueError)              bad user input; carries file, line, col, field
    │   ├── RoutineValidationError          routine YAML (digest §1–§3)
    │   ├── TemplateRegistryError           template registry YAML / images (digest §4)
    │   ├── ScenarioError                   simulator scenario YAML
    │   ├── PoolValidationError             pool YAML (digest §5.2)
    │   │   └── NothingToConvert            ``pools convert`` of a file already unified
    │   ├── GroupValidationError            group definition YAML (digest §9.2)
    │   ├── HostValidationError             host definition YAML (hosts/*.yaml)
    │   ├── SessionFormatError              a recorded session folder (session.jsonl, frames/; docs/sessions.md)
    │   └── AccountFileError                SharedPreferences XML (digest §7.1)
    ├── DeviceError                         carries serial
    │   ├── DeviceConnectError              adb connect failed / refused
    │   ├── DeviceOfflineError              device listed but offline / gone mid-call
    │   ├── DeviceTimeoutError              a call or readiness wait ran out of time
    │   ├── ScreenshotError                 undecodable, black or truncated frame
    │   ├── ShellError                      a command exited non-zero (carries exit_code, output)
    │   └── InstanceLockLost                input refused: the bot no longer holds its instance lock (fencing)
    ├── InstanceRefusedError                an instance's resolution, density or game do not fit; carries serial
    ├── VisionError                         carries template
    │   └── OcrUnavailableError             the OCR library or its packaged models are missing
    ├── RoutineError                        carries routine, step
    │   ├── StepTimeoutError
    │   ├── RoutineStopped                  stop requested through the controller
    │   ├── NoAccountPoolError              an account action ran without a pool
    │   └── ReplayDivergence                a replayed routine left its recorded session (emufleet.sessions)
    ├── PoolError                           carries pool
    │   ├── NoAccountsAvailable
    │   └── LeaseError                      carries account_id
    ├── DatabaseError                       the database failed (unreachable, locked, schema missing, constraint)
    ├── SimulatorError
    ├── PluginError                         an entry point (emufleet.recognizers/actions/conditions) is unusable
    └── OrchestrationError
        └── InstanceConflictError
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AccountFileError",
    "DatabaseError",
    "DeviceConnectError",
    "DeviceError",
    "DeviceOfflineError",
    "DeviceTimeoutError",
    "EmufleetError",
    "GroupValidationError",
    "HostValidationError",
    "InputError",
    "InstanceConflictError",
    "InstanceLockLost",
    "InstanceRefusedError",
    "LeaseError",
    "NoAccountPoolError",
    "NoAccountsAvailable",
    "NothingToConvert",
    "OcrUnavailableError",
    "OrchestrationError",
    "PluginError",
    "PoolError",
    "PoolValidationError",
    "ReplayDivergence",
    "RoutineError",
    "RoutineStopped",
    "RoutineValidationError",
    "ScenarioError",
    "ScreenshotError",
    "ShellError",
    "SessionFormatError",
    "SimulatorError",
    "StepTimeoutError",
    "TemplateRegistryError",
    "VisionError",
]


class EmufleetError(Exception):
    """Root of every error emufleet raises."""


class InputError(EmufleetError, ValueError):
    """Bad user input, located: ``str(err)`` reads ``file:line:col: field: message``.

    ``line`` and ``col`` are 1-based; either may be ``None`` when the input has no position (a CLI argument).
    """

    #: Set only when this error is raised for several (it is the first of them): all of them, in order.
    errors: list[InputError]

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        col: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.col = col
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = ":".join(str(p) for p in (self.file, self.line, self.col) if p is not None)
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}" if where else what


class RoutineValidationError(InputError):
    """A routine file is invalid (unknown action or key, bad parameter, missing template or routine, cycle)."""


class TemplateRegistryError(InputError):
    """A template registry entry is invalid (missing image, region smaller than the template, …)."""


class ScenarioError(InputError):
    """A simulator scenario file is invalid."""


class PoolValidationError(InputError):
    """A pool definition is invalid (unknown column, bad comparator, legacy format, …)."""


class NothingToConvert(PoolValidationError):
    """A pool file given to ``pools convert`` is already in the unified format (it may still be invalid)."""


class GroupValidationError(InputError):
    """A group definition is invalid."""


class HostValidationError(InputError):
    """A host definition is invalid, or a group names a host that is not defined."""


class SessionFormatError(InputError):
    """A recorded session is unreadable: a bad ``session.jsonl`` line (located by line), a newer format version,
    a missing or undecodable frame."""


class AccountFileError(InputError):
    """An account XML file is not a SharedPreferences map with deviceAccount/devicePassword."""


class DeviceError(EmufleetError):
    """A device could not do what was asked."""

    def __init__(self, message: str, *, serial: str | None = None) -> None:
        self.serial = serial
        super().__init__(f"{serial}: {message}" if serial else message)


class DeviceConnectError(DeviceError):
    """``adb connect`` failed: the emulator is off, refusing, or never answered the handshake."""


class DeviceOfflineError(DeviceError):
    """The device is known to the adb server but offline, or dropped the connection mid-call."""


class DeviceTimeoutError(DeviceError):
    """A device call or a readiness wait exceeded its timeout."""


class ScreenshotError(DeviceError):
    """A screen capture was undecodable, truncated, or entirely black."""


class ShellError(DeviceError):
    """A shell command exited with a non-zero status."""

    def __init__(self, message: str, *, serial: str | None = None, exit_code: int | None = None,
                 output: str = "") -> None:
        self.exit_code = exit_code
        self.output = output
        super().__init__(message, serial=serial)


class InstanceLockLost(DeviceError):
    """Device input refused: the bot's instance lock could not be renewed in time, or another run holds it
    (fencing, docs/supervision.md). No input reaches the device while this is raised."""


class InstanceRefusedError(EmufleetError):
    """An instance's settings do not fit the group (a resolution the template set was not cut for, a density, the
    game missing or too old) and could not or may not be fixed: no bot starts there (docs/farm.md). Not a
    :class:`DeviceError`: retrying the same device does not help."""

    def __init__(self, message: str, *, serial: str | None = None) -> None:
        self.serial = serial
        super().__init__(message)


class VisionError(EmufleetError):
    """Template matching could not run (bad frame, missing template image)."""

    def __init__(self, message: str, *, template: str | None = None) -> None:
        self.template = template
        super().__init__(f"template {template!r}: {message}" if template else message)


class OcrUnavailableError(VisionError):
    """Text cannot be read: the OCR library (``rapidocr`` with ``onnxruntime``) or its packaged models are missing."""


class PluginError(EmufleetError):
    """A plugin's entry point cannot be loaded or registers something unusable.

    ``plugin`` names it as ``group:name (distribution)``.
    """

    def __init__(self, message: str, *, plugin: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin}: {message}")


class RoutineError(EmufleetError):
    """A routine failed while running."""

    def __init__(self, message: str, *, routine: str | None = None, step: str | None = None) -> None:
        self.routine = routine
        self.step = step
        self.message = message
        where = " ".join(p for p in (routine and f"routine {routine!r}", step and f"step {step}") if p)
        super().__init__(f"{where}: {message}" if where else message)


class StepTimeoutError(RoutineError):
    """A step ran past its ``step_timeout``; the step was stopped."""


class RoutineStopped(RoutineError):
    """The routine was stopped through its controller (user stop, sentry ``stop``, flow cancellation)."""


class NoAccountPoolError(RoutineError):
    """An account action ran, but the bot has no account pool configured."""


class ReplayDivergence(RoutineError):
    """A routine replayed against a recorded session sent an input the session did not expect, or stopped sending
    the one it expected (:mod:`emufleet.sessions.replay`); the replay device refuses every call after it."""


class PoolError(EmufleetError):
    """An account pool operation failed."""

    def __init__(self, message: str, *, pool: str | None = None) -> None:
        self.pool = pool
        super().__init__(f"pool {pool!r}: {message}" if pool else message)


class NoAccountsAvailable(PoolError):
    """No account became available before the timeout."""


class LeaseError(PoolError):
    """A lease operation was refused (not the owner, expired, unknown account)."""

    def __init__(self, message: str, *, pool: str | None = None, account_id: int | str | None = None) -> None:
        self.account_id = account_id
        super().__init__(f"account {account_id}: {message}" if account_id is not None else message, pool=pool)


class DatabaseError(EmufleetError):
    """A database operation failed: SQLAlchemy's error, translated where a package meets the database.

    ``action`` says what was being done (``"pool 'demo': refresh"``); the SQLAlchemy error is ``__cause__``.
    """

    def __init__(self, message: str, *, action: str | None = None) -> None:
        self.action = action
        super().__init__(f"{action}: {message}" if action else message)


class SimulatorError(EmufleetError):
    """The simulator could not start or was misused."""


class OrchestrationError(EmufleetError):
    """A group launch, stop, pause or resume failed."""


class InstanceConflictError(OrchestrationError):
    """An instance is already locked by another flow run and ``on_conflict`` says abort."""

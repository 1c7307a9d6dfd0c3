"""Where emufleet finds its data, and the game constants, as overridable settings.

Resolution order for every path: explicit argument > environment variable > default under the project root
(the directory holding ``routines/``, ``templates/``, ``pools/``, ``groups/``; the checkout when run from source,
else the current directory).

Environment variables:

* ``EMUFLEET_HOME``: project root (data folders) — default: the checkout, else the cwd.
* ``EMUFLEET_STATE_DIR``: runtime state (database, pid files, logs) — default ``<root>/var``.
* ``EMUFLEET_DATABASE_URL``: SQLAlchemy URL — default ``sqlite:///<state>/emufleet.db``.
* ``EMUFLEET_SEED_ASSETS``: the seed's third-party data, read in place by tests and benchmarks —
  default ``<root>/../shared/seed-assets``.
* ``EMUFLEET_REAL_SCREENS``: real game screenshots and needles for vision tests, read in place —
  default ``<root>/../shared/real-screens``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GameSettings", "GAME", "project_root", "state_dir", "database_url", "seed_assets_dir",
           "real_screens_dir", "data_dir", "account_dirs"]

_CHECKOUT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """The folder holding the data folders (``routines/``, ``templates/``, …)."""
    env = os.environ.get("EMUFLEET_HOME")
    if env:
        return Path(env).resolve()
    if (_CHECKOUT / "routines").is_dir() and (_CHECKOUT / "templates").is_dir():
        return _CHECKOUT
    return Path.cwd()


def data_dir(name: str) -> Path:
    """``<root>/<name>`` for the shipped data folders: routines, templates, pools, groups."""
    return project_root() / name


def account_dirs() -> list[Path]:
    """The folders account files may be read from by a pool edited in the console (resolved): the project's
    ``accounts/``, or the folders of ``EMUFLEET_ACCOUNT_DIRS`` (separated by ``os.pathsep``)."""
    env = os.environ.get("EMUFLEET_ACCOUNT_DIRS")
    folders = [Path(p) for p in env.split(os.pathsep) if p.strip()] if env else [data_dir("accounts")]
    return [p.expanduser().resolve() for p in folders]


def state_dir() -> Path:
    """Runtime state folder (created on demand): database file, pid files, logs."""
    env = os.environ.get("EMUFLEET_STATE_DIR")
    path = Path(env) if env else project_root() / "var"
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """The one database of emufleet: ``EMUFLEET_DATABASE_URL`` or a SQLite file in :func:`state_dir`."""
    return os.environ.get("EMUFLEET_DATABASE_URL") or f"sqlite:///{state_dir() / 'emufleet.db'}"


def seed_assets_dir() -> Path:
    """The seed's data (third-party; read in place, never copied into the repo)."""
    env = os.environ.get("EMUFLEET_SEED_ASSETS")
    return Path(env) if env else (_CHECKOUT.parent / "shared" / "seed-assets")


def real_screens_dir() -> Path:
    """Real screenshots of the game with needles and checked pairs (third-party; read in place, never copied)."""
    env = os.environ.get("EMUFLEET_REAL_SCREENS")
    return Path(env) if env else (_CHECKOUT.parent / "shared" / "real-screens")


@dataclass(frozen=True, slots=True)
class GameSettings:
    """The game's Android identifiers (digest §7). One canonical launch command, not four (§7.5)."""

    package: str = "jp.pokemon.pokemontcgp"
    activity: str = "com.unity3d.player.UnityPlayerActivity"
    prefs_path: str = "/data/data/jp.pokemon.pokemontcgp/shared_prefs/deviceAccount:.xml"
    staging_path: str = "/sdcard/deviceAccount.xml"
    launch_flags: str = "0x10018000"  # NEW_TASK | CLEAR_TOP | NO_ANIMATION


# With slots=True the class attributes are slot descriptors, not the defaults: read them from an instance.
_DEFAULT_GAME = GameSettings()
GAME = GameSettings(
    package=os.environ.get("EMUFLEET_GAME_PACKAGE", _DEFAULT_GAME.package),
    activity=os.environ.get("EMUFLEET_GAME_ACTIVITY", _DEFAULT_GAME.activity),
)

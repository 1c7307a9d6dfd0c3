"""A throwaway PostgreSQL cluster from the machine's own PostgreSQL binaries (tests, CI, benchmarks, local server).

``initdb`` + ``pg_ctl`` in a temporary directory, listening on ``127.0.0.1`` on a free port, trust
authentication for loopback, removed when stopped. The binaries are found on ``PATH`` or under
``/usr/lib/postgresql/<version>/bin`` (Debian/Ubuntu's layout; the highest version wins). ``initdb`` refuses to run
as root, so as root every PostgreSQL command runs as the ``postgres`` system user (``runuser -u postgres``), which
owns the cluster's directory.

Usage::

    with PostgresCluster.start() as pg:        # a fresh cluster, stopped and removed on exit (even on error)
        pg.create_database("prefect")
        pg.url("emufleet")                     # postgresql+psycopg://emufleet@127.0.0.1:<port>/emufleet
        pg.url("prefect", driver="asyncpg")    # for the Prefect server

As a command, it wraps another one: ``python -m emufleet.db.cluster -- make test`` starts a cluster, exports
``EMUFLEET_TEST_POSTGRES_URL`` (database ``emufleet``) to the command, and stops the cluster when the command ends,
fails or is interrupted; the exit code is the command's.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from emufleet.errors import EmufleetError
from emufleet.process import unwind_on_sigterm

__all__ = ["PostgresCluster", "PostgresUnavailable", "find_binaries"]

SUPERUSER = "emufleet"
_SYSTEM_USER = "postgres"


class PostgresUnavailable(EmufleetError):
    """No usable PostgreSQL binaries here (``initdb``/``pg_ctl`` missing), or the cluster failed to start."""


def find_binaries() -> Path:
    """The directory holding ``initdb`` and ``pg_ctl``: ``PATH`` first, else ``/usr/lib/postgresql/*/bin``.

    Raises:
        PostgresUnavailable: neither is found (install the OS package, e.g. ``apt-get install postgresql``).
    """
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    found = sorted((p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")
                    if (p.parent / "pg_ctl").is_file()), key=lambda b: version(b / "x"))
    if not found:
        raise PostgresUnavailable("no PostgreSQL binaries (initdb, pg_ctl) on PATH or under /usr/lib/postgresql; "
                                  "install them (apt-get install postgresql)")
    return found[-1]


@dataclass
class PostgresCluster:
    """A running throwaway cluster: ``port`` on ``127.0.0.1``, superuser :data:`SUPERUSER` (no password)."""

    root: Path
    port: int
    bindir: Path
    _as_user: list[str] = field(default_factory=list)

    @classmethod
    @contextlib.contextmanager
    def start(cls, port: int | None = None, bindir: Path | None = None, *, listen: Sequence[str] = ("127.0.0.1",),
              trust: Sequence[str] = ()) -> Iterator[PostgresCluster]:
        """Create, start and yield a cluster; stop it and delete its files on exit.

        Args:
            port: TCP port (default: a free one on ``127.0.0.1``).
            bindir: directory of ``initdb``/``pg_ctl`` (default: :func:`find_binaries`).
            listen: addresses to listen on (other hosts, e.g. network namespaces, need a non-loopback one).
            trust: client networks (CIDR, ``10.0.0.0/8``) let in without a password, besides loopback.

        Raises:
            PostgresUnavailable: no binaries, or ``initdb``/``pg_ctl start`` failed (their output is in the message).
        """
        from emufleet.sim.adbserver import free_port

        bindir = bindir or find_binaries()
        root = Path(tempfile.mkdtemp(prefix="emufleet-pg-"))
        as_user: list[str] = []
        # initdb refuses root: run the cluster as the postgres system user
        if sys.platform != "win32" and os.geteuid() == 0:
            as_user = ["runuser", "-u", _SYSTEM_USER, "--"]
            shutil.chown(root, _SYSTEM_USER)
        cluster = cls(root=root, port=port or free_port(), bindir=bindir, _as_user=as_user)
        try:
            cluster._run("initdb", "-D", str(cluster.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
                         "--no-instructions")
            with open(cluster.data / "pg_hba.conf", "a", encoding="utf-8") as hba:
                hba.writelines(f"host all all {network} trust\n" for network in trust)
            options = (f"-p {cluster.port} -k {root} -c listen_addresses={','.join(listen)} -c fsync=off "
                       "-c max_connections=200 -c synchronous_commit=off")
            cluster._run("pg_ctl", "-D", str(cluster.data), "-l", str(root / "postgres.log"), "-w", "-t", "60",
                         "-o", options, "start")
        except BaseException:
            cluster._remove()
            raise
        try:
            cluster.create_database(SUPERUSER)
            yield cluster
        finally:
            cluster.stop()

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = SUPERUSER, driver: str = "psycopg", host: str = "127.0.0.1") -> str:
        """SQLAlchemy URL of ``database``: ``postgresql+<driver>://emufleet@<host>:<port>/<database>``."""
        return f"postgresql+{driver}://{SUPERUSER}@{host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """``createdb name`` (an error if it exists); returns :meth:`url` of it."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, name)
        return self.url(name)

    def stop(self) -> None:
        """``pg_ctl stop -m fast`` and remove the cluster's directory (idempotent)."""
        if self.data.is_dir():
            with contextlib.suppress(PostgresUnavailable):
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        self._remove()

    def _remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str) -> None:
        argv = [*self._as_user, str(self.bindir / tool), *args]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, cwd=self.root, check=False)  # noqa: S603
        except OSError as exc:
            raise PostgresUnavailable(f"{tool} failed: {exc}") from exc
        if done.returncode:
            raise PostgresUnavailable(f"{tool} failed ({done.returncode}): {(done.stderr or done.stdout).strip()}")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m emufleet.db.cluster [--] COMMAND…``: run COMMAND with ``EMUFLEET_TEST_POSTGRES_URL`` set."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m emufleet.db.cluster -- COMMAND [ARG…]", file=sys.stderr)
        return 2
    unwind_on_sigterm()  # CI cancelling the job: the cluster is stopped either way
    with PostgresCluster.start() as pg:
        env = {**os.environ, "EMUFLEET_TEST_POSTGRES_URL": pg.url()}
        print(f"emufleet.db.cluster: PostgreSQL on 127.0.0.1:{pg.port} ({pg.bindir}), "
              f"EMUFLEET_TEST_POSTGRES_URL={pg.url()}", file=sys.stderr, flush=True)
        try:
            return subprocess.call(args, env=env)  # noqa: S603 - the caller's own command
        except KeyboardInterrupt:
            return 130


if __name__ == "__main__":
    raise SystemExit(main())

"""Accounts in the database: import SharedPreferences files, export them, list and look up (digest §7.1, §5.4).

Import upserts by ``device_account`` (a new password replaces the old one; pool state and counters are kept),
with portable SQL (select, then insert or update; a concurrent insert of the same account is retried), so it runs
unchanged on SQLite and PostgreSQL and inside a caller's transaction (pool refresh imports watched folders).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from emufleet.accounts.xmlfile import AccountCredentials, read_account_file, write_account_file
from emufleet.db import Account, session, translate_db_errors
from emufleet.errors import AccountFileError

__all__ = ["MAX_SCAN_ENTRIES", "ImportReport", "account_file_name", "export_accounts", "find_account", "import_paths",
           "list_accounts", "scan_account_files", "upsert_accounts"]

log = logging.getLogger(__name__)


@dataclass
class ImportReport:
    """What an import did: account ids by name (in file order), counts, and the files that failed."""

    ids: dict[str, int] = field(default_factory=dict)
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[AccountFileError] = field(default_factory=list)


MAX_SCAN_ENTRIES = 100_000
"""Most directory entries one watched folder may hold (walked without following links); beyond, the folder is
reported as an error instead of walking ``/`` for minutes."""


def _xml_files(base: Path) -> list[Path]:
    """``*.xml`` files under ``base`` (recursively, sorted); ``AccountFileError`` past :data:`MAX_SCAN_ENTRIES`."""
    found: list[Path] = []
    seen = 0

    def refuse(exc: OSError) -> None:
        raise AccountFileError(f"cannot list: {exc.strerror or exc}", file=exc.filename or base)

    for folder, dirs, names in os.walk(base, onerror=refuse):
        seen += len(dirs) + len(names)
        if seen > MAX_SCAN_ENTRIES:
            raise AccountFileError(f"more than {MAX_SCAN_ENTRIES:,} entries under this folder; watch the folder "
                                   "that holds the account files", file=base)
        found += (Path(folder, n) for n in names if n.lower().endswith(".xml"))
    return sorted(p for p in found if p.is_file())


def scan_account_files(paths: Iterable[str | Path]) -> tuple[list[tuple[AccountCredentials, Path]],
                                                              list[AccountFileError]]:
    """Parse every ``*.xml`` under ``paths`` (files, or folders walked recursively, sorted by path).

    A missing folder is logged and skipped (a pool's watched path may not exist yet); bad files, and folders that
    cannot be listed or are too large (:data:`MAX_SCAN_ENTRIES`), are returned as errors, never raised, so one
    bad file does not block the others.
    """
    found: list[tuple[AccountCredentials, Path]] = []
    errors: list[AccountFileError] = []
    for base in map(Path, paths):
        try:
            if base.is_file():
                files = [base]
            elif base.is_dir():
                files = _xml_files(base)
            else:
                log.warning("account folder %s does not exist; skipped", base)
                continue
        except AccountFileError as exc:
            errors.append(exc)
            continue
        except (OSError, ValueError) as exc:  # a name too long, a NUL byte, a loop of links
            errors.append(AccountFileError(f"cannot read: {getattr(exc, 'strerror', None) or exc}", file=base))
            continue
        for file in files:
            try:
                found.append((read_account_file(file), file.resolve()))
            except AccountFileError as exc:
                errors.append(exc)
    return found, errors


def upsert_accounts(conn: Connection, items: Sequence[tuple[AccountCredentials, Path | None]]) -> ImportReport:
    """Insert new accounts and update the password/file path of known ones, inside ``conn``'s transaction.

    Raises ``IntegrityError`` if another transaction inserted one of the same accounts concurrently; callers
    retry the whole transaction (:func:`import_paths` does).
    """
    report = ImportReport()
    names = [creds.device_account for creds, _ in items]
    existing = {
        row.device_account: row
        for chunk in _chunks(names, 500)
        for row in conn.execute(
            select(Account.id, Account.device_account, Account.device_password, Account.file_path)
            .where(Account.device_account.in_(chunk)))
    }
    for creds, path in items:
        file_path = str(path) if path else None
        row = existing.get(creds.device_account)
        if row is None:
            report.ids[creds.device_account] = conn.execute(insert(Account).values(
                device_account=creds.device_account, device_password=creds.device_password,
                file_path=file_path).returning(Account.id)).scalar_one()
            report.created += 1
            existing[creds.device_account] = conn.execute(  # a file listed twice updates, not re-inserts
                select(Account.id, Account.device_account, Account.device_password, Account.file_path)
                .where(Account.device_account == creds.device_account)).one()
            continue
        if row.device_password == creds.device_password and (file_path is None or row.file_path == file_path):
            report.unchanged += 1
        else:
            values = {"device_password": creds.device_password}
            if file_path:
                values["file_path"] = file_path
            conn.execute(update(Account).where(Account.id == row.id).values(**values))
            report.updated += 1
        report.ids[creds.device_account] = row.id
    return report


@translate_db_errors("accounts import")
def import_paths(eng: Engine, paths: Iterable[str | Path]) -> ImportReport:
    """Import the account files under ``paths`` in one transaction; bad files are listed in ``errors``."""
    found, errors = scan_account_files(paths)
    for attempt in range(3):
        try:
            with eng.begin() as conn:
                report = upsert_accounts(conn, found)
            break
        except IntegrityError:  # a concurrent import inserted one of ours first: the retry sees it
            if attempt == 2:
                raise
    report.errors = errors
    return report


def account_file_name(device_account: str) -> str:
    """A safe file name for an account's XML: the name with anything but ``[\\w.@+-]`` replaced by ``_``."""
    return re.sub(r"[^\w.@+-]", "_", device_account).lstrip(".") + ".xml"


@translate_db_errors("accounts export")
def export_accounts(eng: Engine, directory: str | Path, *, status: str | None = None) -> list[Path]:
    """Write one SharedPreferences file per account (optionally only ``pool_status == status``); returns paths."""
    directory = Path(directory)
    return [write_account_file(directory / account_file_name(acc.device_account),
                               AccountCredentials(acc.device_account, acc.device_password))
            for acc in list_accounts(eng, status=status)]


@translate_db_errors("accounts list")
def list_accounts(eng: Engine, *, status: str | None = None) -> list[Account]:
    """Accounts ordered by id, optionally filtered by ``pool_status`` (detached ORM objects)."""
    stmt = select(Account).order_by(Account.id)
    if status is not None:
        stmt = stmt.where(Account.pool_status == status)
    with session(eng) as s:
        return list(s.scalars(stmt))


@translate_db_errors("account lookup")
def find_account(eng: Engine, key: str | int) -> Account | None:
    """The account with id ``key`` (an int or all-digit string) or ``device_account == key``."""
    with session(eng) as s:
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            acc = s.get(Account, int(key))
            if acc is not None:
                return acc
        return s.scalars(select(Account).where(Account.device_account == str(key))).first()


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

"""Accounts in the database: import SharedPreferences files, export them, list and look up (digest §7.1, §5.4).

Import upserts by ``device_account`` (a new password replaces the old one; pool state and counters are kept),
with portable SQL (select, then insert or update; a concurrent insert of the same account is retried), so it runs
unchanged on SQLite and PostgreSQL and inside a caller's transaction (pool refresh imports watched folders).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from emufleet.accounts.xmlfile import AccountCredentials, read_account_file, write_account_file
from emufleet.datafiles import list_data_files
from emufleet.db import Account, session, translate_db_errors
from emufleet.errors import AccountFileError, InputError

__all__ = ["ImportReport", "account_file_name", "export_accounts", "find_account", "import_paths",
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


def scan_account_files(paths: Iterable[str | Path]) -> tuple[list[tuple[AccountCredentials, Path]],
                                                              list[AccountFileError]]:
    """Parse every ``*.xml`` under ``paths`` (files, or folders walked recursively, sorted by path).

    A missing folder is logged and skipped (a pool's watched path may not exist yet); what is not a regular file
    is skipped with a warning (:func:`emufleet.datafiles.list_data_files`); bad files, and folders that cannot be
    listed or are too large (:data:`emufleet.datafiles.MAX_ENTRIES`), are returned as errors, never raised, so one
    bad file does not block the others.
    """
    found: list[tuple[AccountCredentials, Path]] = []
    errors: list[AccountFileError] = []
    for base in map(Path, paths):
        try:
            if base.is_dir():  # walked without following links; non-regular files are skipped with a warning
                files = list_data_files(base, {".xml"}, recursive=True, error=AccountFileError)
            elif base.exists():
                files = [base]  # a file named explicitly: read_account_file refuses a FIFO or a device
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


_NAME_CHARS = 80
"""Characters of the account name kept in its file name (file systems allow 255 bytes; ``é`` is two)."""


def account_file_name(device_account: str) -> str:
    """A safe, distinct file name for an account's XML: the name itself when it is plain ASCII ``[\\w.@+-]`` of at
    most 80 characters, else its safe characters (others become ``_``, cut to 80) plus ``-`` and 10 hex digits of
    its SHA-256, so two names never share a file (``a b`` and ``a_b``, ``é`` and ``è``, two long names).
    """
    safe = re.sub(r"[^A-Za-z0-9_.@+-]", "_", device_account).lstrip(".")
    if safe == device_account and len(safe) <= _NAME_CHARS:
        return safe + ".xml"
    digest = hashlib.sha256(device_account.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{safe[:_NAME_CHARS]}-{digest}.xml"


@translate_db_errors("accounts export")
def export_accounts(eng: Engine, directory: str | Path, *, status: str | None = None) -> list[Path]:
    """Write one SharedPreferences file per account (optionally only ``pool_status == status``); returns the paths,
    one per account, all distinct (:func:`account_file_name`; names equal but for case get a hash too, for
    case-insensitive file systems).

    Raises:
        InputError: ``directory`` is empty (it would mean the current folder: passwords written where one stands).
        OSError: a file cannot be written (the files before it are written).
    """
    if not str(directory).strip():
        raise InputError("the export folder is empty; name a folder", field="folder")
    directory = Path(directory)
    paths: list[Path] = []
    used: set[str] = set()
    for acc in list_accounts(eng, status=status):
        name = account_file_name(acc.device_account)
        if name.casefold() in used:  # "Ann" after "ann": distinct names, one file on Windows or macOS
            digest = hashlib.sha256(acc.device_account.encode("utf-8", "surrogatepass")).hexdigest()[:10]
            name = f"{name[:-4]}-{digest}.xml"
        used.add(name.casefold())
        paths.append(write_account_file(directory / name, AccountCredentials(acc.device_account,
                                                                             acc.device_password)))
    return paths


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
    """The account with id ``key`` (an int or all-ASCII-digit string) or ``device_account == key``; ``None`` when
    there is none (an id beyond 64 bits, or ``"²"``, is looked up as a name, never sent to the database as an id)."""
    with session(eng) as s:
        if isinstance(key, int) or (isinstance(key, str) and key.isascii() and key.isdigit()):
            if 0 < int(key) < 2**63:
                acc = s.get(Account, int(key))
                if acc is not None:
                    return acc
        if len(str(key)) > 255:  # longer than the column: no such name
            return None
        return s.scalars(select(Account).where(Account.device_account == str(key))).first()


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]

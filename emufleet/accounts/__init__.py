"""Game accounts: SharedPreferences XML files, the accounts table, and injection over ADB (digest §7).

Usage::

    from emufleet import accounts
    creds = accounts.read_account_file("accounts/demo_01.xml")
    report = accounts.import_paths(engine, ["accounts/"])     # upsert by device_account
    accounts.inject(device, creds)                           # force-stop, push, su cp, verify, start
    assert accounts.extract(device) == creds
"""

from __future__ import annotations

from emufleet.accounts.device import extract, inject
from emufleet.accounts.store import (
    ImportReport,
    account_file_name,
    export_accounts,
    find_account,
    import_paths,
    list_accounts,
    scan_account_files,
    upsert_accounts,
)
from emufleet.accounts.xmlfile import (
    HEADER,
    AccountCredentials,
    parse_account_xml,
    read_account_file,
    render_account_xml,
    write_account_file,
)

__all__ = [
    "HEADER",
    "AccountCredentials",
    "ImportReport",
    "account_file_name",
    "export_accounts",
    "extract",
    "find_account",
    "import_paths",
    "inject",
    "list_accounts",
    "parse_account_xml",
    "read_account_file",
    "render_account_xml",
    "scan_account_files",
    "upsert_accounts",
    "write_account_file",
]

"""The game's account file: Android SharedPreferences XML (digest §7.1 format 1).

::

    <?xml version='1.0' encoding='utf-8' standalone='yes' ?>
    <map>
        <string name="deviceAccount">…</string>
        <string name="devicePassword">…</string>
    </map>

The seed exported ``<XMLMap>`` roots and generated a non-XML ``<account>/<password>`` pool format the game never
reads (§7.1 defects); here import and export use only this format, byte-compatible with Android's writer.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from emufleet.errors import AccountFileError

__all__ = ["HEADER", "AccountCredentials", "parse_account_xml", "read_account_file", "render_account_xml",
           "write_account_file"]

HEADER = "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>"
"""The header Android writes on SharedPreferences files."""


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """A game login: the device account name and its password (both non-empty)."""

    device_account: str
    device_password: str

    def __repr__(self) -> str:  # keep passwords out of logs and tracebacks
        return f"AccountCredentials(device_account={self.device_account!r}, device_password='***')"


def parse_account_xml(data: bytes | str, file: str | Path = "<bytes>") -> AccountCredentials:
    """Parse a SharedPreferences ``<map>`` holding ``deviceAccount`` and ``devicePassword`` strings.

    Raises:
        AccountFileError: not well-formed XML (located at line:col), a DTD (refused: entity expansion), a root
            other than ``<map>``, or a missing/empty ``deviceAccount``/``devicePassword``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise AccountFileError("DTDs and entities are not allowed in account files", file=file)
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        line, col = exc.position
        raise AccountFileError(f"not well-formed XML: {str(exc).rsplit(': line', 1)[0]}",
                               file=file, line=line, col=col + 1) from exc
    if root.tag != "map":
        hint = " (the seed's pool format <account>/<password> is not what the game reads)" \
            if root.tag == "account" else ""
        raise AccountFileError(f"root element is <{root.tag}>, expected <map>{hint}", file=file, line=1)
    values = {el.get("name"): (el.text or "").strip() for el in root.findall("string")}
    for key in ("deviceAccount", "devicePassword"):
        if not values.get(key):
            raise AccountFileError(f'missing or empty <string name="{key}">', file=file, field=key)
    return AccountCredentials(values["deviceAccount"], values["devicePassword"])


def render_account_xml(account: AccountCredentials) -> bytes:
    """The SharedPreferences file for ``account`` (UTF-8, the Android header, 4-space indent, final newline)."""
    return (
        f"{HEADER}\n<map>\n"
        f'    <string name="deviceAccount">{escape(account.device_account)}</string>\n'
        f'    <string name="devicePassword">{escape(account.device_password)}</string>\n'
        "</map>\n"
    ).encode()


def read_account_file(path: str | Path) -> AccountCredentials:
    """Read and parse one account XML file; ``AccountFileError`` (naming the file) if unreadable or invalid."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AccountFileError(f"cannot read: {exc.strerror or exc}", file=path) from exc
    return parse_account_xml(data, path)


def write_account_file(path: str | Path, account: AccountCredentials) -> Path:
    """Write ``account`` to ``path`` atomically (temp file + rename) with mode 0600; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(render_account_xml(account))
    os.replace(tmp, path)
    return path

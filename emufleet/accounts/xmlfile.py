"""The game's account file: Android SharedPreferences XML (digest §7.1 format 1).

::

    <?xml version='1.0' encoding='utf-8' standalone='yes' ?>
    <map>
        <string name="deviceAccount">…</string>
        <string name="devicePassword">…</string>
    </map>

The seed exported ``<XMLMap>`` roots and generated a non-XML ``<account>/<password>`` pool format the game never
reads (§7.1 defects); here import and export use only this format, byte-compatible with Android's writer.

Files dropped into watched folders are untrusted. They are decoded here (a BOM, else the declared ``encoding``, else
UTF-8; UTF-16/32 and every codec Python knows) and the text is parsed by ``defusedxml``, which refuses any DTD,
entity declaration or external reference *after* decoding, so no encoding can hide one. Files over
:data:`MAX_BYTES` are refused unread.
"""

from __future__ import annotations

import codecs
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as SafeET

from emufleet.datafiles import read_data_file
from emufleet.errors import AccountFileError

__all__ = ["HEADER", "MAX_BYTES", "AccountCredentials", "decode_account_xml", "parse_account_xml",
           "read_account_file", "render_account_xml", "write_account_file"]

HEADER = "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>"
"""The header Android writes on SharedPreferences files."""
MAX_BYTES = 64 * 1024
"""Largest account file read (Android's are ≈ 200 bytes)."""
MAX_VALUE_CHARS = 255
"""Longest ``deviceAccount``/``devicePassword`` (the database columns' length)."""

_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# No BOM: the first bytes of "<?" say the code unit width (XML 1.0 appendix F).
_SIGNATURES = ((b"<\0\0\0", "utf-32-le"), (b"\0\0\0<", "utf-32-be"), (b"<\0?\0", "utf-16-le"),
               (b"\0<\0?", "utf-16-be"))
_PROBE = "<?xml version='1.0' encoding='x' standalone='yes' ?>\n<map>"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DECLARED = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z][A-Za-z0-9._-]{0,39})["']""")


@dataclass(frozen=True, slots=True)
class AccountCredentials:
    """A game login: the device account name and its password (both non-empty)."""

    device_account: str
    device_password: str

    def __repr__(self) -> str:  # keep passwords out of logs and tracebacks
        return f"AccountCredentials(device_account={self.device_account!r}, device_password='***')"


def _encoding(raw: bytes) -> str:
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    for signature, name in _SIGNATURES:
        if raw.startswith(signature):
            return name
    declared = _DECLARED.match(raw)
    return declared.group(1).decode("ascii") if declared else "utf-8"


def _line_col(text: str, index: int) -> tuple[int, int]:
    return text.count("\n", 0, index) + 1, index - (text.rfind("\n", 0, index) + 1) + 1


def decode_account_xml(raw: bytes, file: str | Path = "<bytes>") -> str:
    """The text of an account file: by its BOM, else the width of ``<?``, else its declared encoding, else UTF-8.

    Raises:
        AccountFileError: over :data:`MAX_BYTES`, an encoding Python does not know, or bytes that are not in the
            encoding (located at the line and column of the first bad byte).
    """
    if len(raw) > MAX_BYTES:
        raise AccountFileError(f"file is larger than the limit of {MAX_BYTES:,} bytes", file=file)
    encoding = _encoding(raw)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise AccountFileError(f"unknown encoding {encoding!r} in the XML declaration", file=file, line=1) from None
    if not raw.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
            and not raw.startswith(tuple(sig for sig, _ in _SIGNATURES)):
        # A declared encoding was read from ASCII bytes: it must write that ASCII the same way, and be a text
        # codec (rot13, zlib, hex and base64 are bytes-to-bytes or str-to-str codecs: bytes.decode refuses them).
        try:
            compatible = _PROBE.encode(encoding) == _PROBE.encode("ascii")
        except (LookupError, UnicodeError, TypeError):
            compatible = False
        if not compatible:
            raise AccountFileError(f"encoding {encoding!r} in the XML declaration is not a text encoding that "
                                   "XML can declare (UTF-8, Latin-1, …)", file=file, line=1)
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        try:
            good = raw[:exc.start].decode(encoding, errors="replace")
        except UnicodeError:  # a codec without the "replace" handler (idna): count in bytes
            good = raw[:exc.start].decode("latin-1")
        line, col = _line_col(good, len(good))
        raise AccountFileError(f"not valid {encoding}: {exc.reason} at byte {exc.start}", file=file, line=line,
                               col=col) from None
    except UnicodeError as exc:  # codecs such as idna wrap their failure in a plain UnicodeError, unlocated
        raise AccountFileError(f"not valid {encoding}: {exc}", file=file, line=1) from None


def parse_account_xml(data: bytes | str, file: str | Path = "<bytes>") -> AccountCredentials:
    """Parse a SharedPreferences ``<map>`` holding ``deviceAccount`` and ``devicePassword`` strings.

    ``data`` is the file's bytes (decoded by :func:`decode_account_xml`) or already decoded text.

    Raises:
        AccountFileError: undecodable, not well-formed XML (located at line:col), a DTD, entity or external
            reference in any encoding (refused: entity expansion, file disclosure), a root other than ``<map>``,
            or a missing, empty or too long (:data:`MAX_VALUE_CHARS`) ``deviceAccount``/``devicePassword``.
    """
    text = decode_account_xml(data, file) if isinstance(data, bytes) else data
    try:
        # A str is parsed as the text it is (expat ignores the declared encoding of str input).
        located = _Located()
        parser = SafeET.DefusedXMLParser(target=located, forbid_dtd=True, forbid_entities=True,
                                         forbid_external=True)
        located.expat = parser.parser
        parser.feed(text)
        root = parser.close()
    except defusedxml.DefusedXmlException as exc:
        where = next((text.find(m) for m in ("<!DOCTYPE", "<!ENTITY") if m in text), -1)
        line, col = _line_col(text, where) if where >= 0 else (None, None)
        raise AccountFileError(f"DTDs and entities are not allowed in account files ({type(exc).__name__})",
                               file=file, line=line, col=col) from exc
    except ET.ParseError as exc:
        line, col = exc.position
        raise AccountFileError(f"not well-formed XML: {str(exc).rsplit(': line', 1)[0]}",
                               file=file, line=line, col=col + 1) from exc
    if root.tag != "map":
        hint = " (the seed's pool format <account>/<password> is not what the game reads)" \
            if root.tag == "account" else ""
        raise AccountFileError(f"root element is <{root.tag:.40}>, expected <map>{hint}", file=file, line=1)
    values: dict[str, str] = {}
    for el in root.findall("string"):
        key = el.get("name")
        if key not in ("deviceAccount", "devicePassword"):
            continue
        line, col = located.where.get(id(el), (None, None))
        if key in values:  # Android writes each key once; which of two would the game read?
            raise AccountFileError(f'<string name="{key}"> is given twice', file=file, line=line, col=col, field=key)
        if len(el):
            raise AccountFileError(f"<{el[0].tag:.40}> inside the value: a value is text only", file=file,
                                   line=line, col=col, field=key)
        # The name loses the layout around it (a hand-indented file); a password is kept exactly, spaces included.
        values[key] = (el.text or "").strip() if key == "deviceAccount" else (el.text or "")
        if not values[key]:
            raise AccountFileError(f'missing or empty <string name="{key}">', file=file, line=line, col=col, field=key)
        if len(values[key]) > MAX_VALUE_CHARS:  # the database columns are VARCHAR(255)
            raise AccountFileError(f"longer than {MAX_VALUE_CHARS} characters", file=file, line=line, col=col,
                                   field=key)
        if key == "deviceAccount" and _CONTROL.search(values[key]):
            raise AccountFileError("a control character (a newline, a tab, …) in the account name", file=file,
                                   line=line, col=col, field=key)
    for key in ("deviceAccount", "devicePassword"):
        if key not in values:
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


class _Located(ET.TreeBuilder):
    """A tree builder that remembers where each element starts (1-based line and column), for error messages."""

    def __init__(self) -> None:
        super().__init__()
        self.expat: Any = None
        self.where: dict[int, tuple[int, int]] = {}

    def start(self, tag: str, attrs: dict[str, str]) -> ET.Element:
        element = super().start(tag, attrs)
        if self.expat is not None:
            self.where[id(element)] = (self.expat.CurrentLineNumber, self.expat.CurrentColumnNumber + 1)
        return element


def read_account_file(path: str | Path) -> AccountCredentials:
    """Read and parse one account XML file; ``AccountFileError`` (naming the file) if unreadable or invalid."""
    path = Path(path)
    return parse_account_xml(read_data_file(path, MAX_BYTES, error=AccountFileError), path)


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

"""Text as the screen shows it, compared the way people read it: normalisation, literal and pattern matching,
and numbers with thousands separators.

Normalisation (as ``../shared/real-screens/README.md`` scores reads): Unicode NFKC (full-width ``：`` → ``:``,
``１２`` → ``12``), then whitespace — runs collapsed to one space for Latin-script languages, removed for
Japanese and Chinese (``lang`` ``ja``/``zh``), where spacing is typesetting, not words.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

__all__ = ["LANGS", "Lang", "TextQuery", "normalise", "parse_number"]

Lang = Literal["en", "ja", "zh"]
LANGS: tuple[Lang, ...] = ("en", "ja", "zh")
_SPACES = re.compile(r"\s+")


def normalise(text: str, lang: Lang = "en") -> str:
    """NFKC, then whitespace collapsed (``en``) or removed (``ja``, ``zh``); ends stripped."""
    text = unicodedata.normalize("NFKC", text)
    return _SPACES.sub("", text) if lang in ("ja", "zh") else _SPACES.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class TextQuery:
    """What text to look for: a ``literal`` (found inside a line, after normalising both) or a regular expression
    ``pattern`` (searched in the normalised line). ``ignore_case`` applies to both.

    Raises ``ValueError`` (pydantic turns it into a located load error) for neither or both, or a bad pattern.
    """

    literal: str | None = None
    pattern: str | None = None
    ignore_case: bool = False
    lang: Lang = "en"

    def __post_init__(self) -> None:
        if (self.literal is None) == (self.pattern is None):
            raise ValueError("give text (a literal) or pattern (a regular expression), not both or neither")
        if self.literal is not None and not normalise(self.literal, self.lang):
            raise ValueError("text must not be empty")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {self.pattern!r}: {exc}") from None

    @property
    def label(self) -> str:
        return f"text {self.literal!r}" if self.literal is not None else f"text /{self.pattern}/"

    def search(self, text: str) -> re.Match[str] | None:
        """The match inside ``text`` (normalised here), or ``None``."""
        flags = re.IGNORECASE if self.ignore_case else 0
        needle = re.escape(normalise(self.literal, self.lang)) if self.literal is not None else str(self.pattern)
        return re.search(needle, normalise(text, self.lang), flags)


# Integers grouped by thousands with one separator used throughout: 1,234,567 · 1.234 · 1 234 · 1'234 (also the
# narrow/no-break spaces NFKC leaves alone).
_GROUPED = re.compile(r"[+-]?\d{1,3}(?P<sep>[,. '\u2019\u202f\u00a0])\d{3}(?:(?P=sep)\d{3})*")
_PLAIN = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?\d+\.\d+")


def parse_number(text: str) -> int | float | None:
    """The number ``text`` shows, or ``None`` when it is not exactly one number.

    Accepts an optional sign, digits (full-width ones too: NFKC), thousands separators (``,`` ``.`` space ``'``
    used consistently, groups of three: ``1,234`` → 1234, ``1.234.567`` → 1234567) and a decimal point
    (``12.5``; a dot followed by exactly three digits is a thousands separator). Anything else — letters, two
    numbers, ``1,23``, an empty read — is refused (``None``).
    """
    s = unicodedata.normalize("NFKC", text).strip()
    if _PLAIN.fullmatch(s):
        return int(s)
    grouped = _GROUPED.fullmatch(s)
    if grouped:
        return int(s.replace(grouped.group("sep"), ""))
    if _DECIMAL.fullmatch(s):
        return float(s)
    return None

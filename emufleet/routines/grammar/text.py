"""Steps that read the screen's text (OCR, :mod:`emufleet.vision.recognizers.ocr`): the ``TextVisible``
condition and the ``ReadText``, ``ReadNumber`` and ``ClickText`` actions.

Where to read: ``region`` ``{x1, y1, x2, y2}`` in the template set's coordinate space, like templates' regions;
reads stay inside it. The whole board is read only when the step says ``whole_screen: true`` (slower, and text
elsewhere on the screen would count). A region at most 10 % of the screen's width tall is read as one line;
larger ones are read line by line after text detection (``layout: auto``; ``line`` or ``block`` force one).

What to look for: ``text`` (a literal, found inside a line) or ``pattern`` (a Python regular expression searched in
the line), after normalising both (NFKC; whitespace collapsed, or removed for ``lang: ja``/``zh``);
``ignore_case: true``. ``threshold`` is the minimum OCR confidence (default 0.5). A bad pattern, both or neither of
``text``/``pattern``, or neither/both of ``region``/``whole_screen`` are load-time errors.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, model_validator

from emufleet.routines.grammar.base import GrammarModel, Step, Threshold
from emufleet.routines.grammar.catalog import action, condition
from emufleet.routines.grammar.conditions import ConditionBase
from emufleet.routines.seeing import recognize
from emufleet.vision.space import RegionMapping
from emufleet.vision.text import Lang, TextQuery, parse_number

if TYPE_CHECKING:
    from emufleet.routines.executor import Executor
    from emufleet.vision.recognizers import Recognition

__all__ = ["ClickText", "ReadNumber", "ReadText", "RECORDABLE", "TextVisible"]

VarName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]+$")]
#: What ``ReadNumber`` may ``record`` on the account it holds: account columns (set to the number read) and the
#: counters of the account's result (reported by ``CompleteAccount`` when it leaves them out).
ACCOUNT_COLUMNS = ("shinedust", "hourglasses", "wonder_picks_done")
RESULT_COUNTERS = ("packs_opened", "cards_found", "stars_total", "keep_count")
RECORDABLE = (*ACCOUNT_COLUMNS, *RESULT_COUNTERS)


class _Where(GrammarModel):
    region: RegionMapping | None = None
    whole_screen: bool = False
    lang: Lang = "en"
    layout: Literal["auto", "line", "block"] = "auto"
    threshold: Threshold | None = None

    @model_validator(mode="after")
    def _one_area(self) -> Any:
        if (self.region is None) == (not self.whole_screen):
            raise ValueError("give region {x1, y1, x2, y2} or whole_screen: true (reads stay inside a region)")
        return self

    def _read(self, ex: Executor, query: TextQuery | None, *, fresh: bool = True) -> Recognition:
        from emufleet.vision.recognizers import OcrRecognizer
        from emufleet.vision.recognizers.ocr import DEFAULT_TEXT_THRESHOLD

        threshold = DEFAULT_TEXT_THRESHOLD if self.threshold is None else self.threshold
        reader = OcrRecognizer(query, lang=self.lang, layout=self.layout, threshold=threshold)
        return recognize(ex, reader, self.region, fresh=fresh)


class _Query(_Where):
    text: str | None = None
    pattern: str | None = None
    ignore_case: bool = False

    @model_validator(mode="after")
    def _query_valid(self) -> Any:
        self.query  # noqa: B018 - TextQuery raises ValueError (a located load error) for a bad query
        return self

    @property
    def query(self) -> TextQuery:
        return TextQuery(self.text, self.pattern, self.ignore_case, self.lang)


@condition
class TextVisible(_Query, ConditionBase):
    """True when a line inside the region contains ``text`` / matches ``pattern`` (fresh frame)."""

    NAME = "TextVisible"

    def evaluate(self, ex: Executor) -> bool:
        return self._read(ex, self.query).found


@action
class ClickText(_Query, Step):
    """Tap the centre of the first line (reading order) that shows ``text``/``pattern``; fail when none does."""

    NAME = "ClickText"

    def run(self, ex: Executor) -> None:
        result = self._read(ex, self.query, fresh=False)
        hit = min(result.hits, key=lambda h: (h.box.y1, h.box.x1), default=None)
        if hit is None:
            seen = f" (read {result.nearest.text!r})" if result.nearest and result.nearest.text else ""
            raise ex.error(f"{self.query.label} not found{seen}")
        ex.tap(*hit.center)


class _Reading(_Where, Step):
    save_to: VarName
    pattern: str | None = None  # keep this part of the read: its first group, else the whole match
    default: str | None = None  # saved when nothing (matching) is read; without it that fails the step

    @model_validator(mode="after")
    def _pattern_valid(self) -> Any:
        if self.pattern is not None:
            TextQuery(None, self.pattern, lang=self.lang)
        return self

    def _text(self, ex: Executor) -> str | None:
        """The text read (lines joined by a space), cut by ``pattern``; ``None`` when nothing matches."""
        result = self._read(ex, None)
        text = " ".join(h.text or "" for h in sorted(result.hits, key=lambda h: (h.box.y1, h.box.x1)))
        if not text:
            return None
        if self.pattern is None:
            return text
        found = TextQuery(None, self.pattern, lang=self.lang).search(text)
        if found is None:
            return None
        return found.group(1) if found.re.groups else found.group(0)

    def _missing(self, ex: Executor, what: str) -> None:
        if self.default is None:
            raise ex.error(what)
        ex.ctx.variables.set(self.save_to, self.default)


@action
class ReadText(_Reading):
    """Save the text read inside the region (lines joined by a space) into ``save_to``."""

    NAME = "ReadText"

    def run(self, ex: Executor) -> None:
        text = self._text(ex)
        if text is None:
            return self._missing(ex, "no text read" + (f" matching /{self.pattern}/" if self.pattern else ""))
        ex.ctx.variables.set(self.save_to, text)


@action
class ReadNumber(_Reading):
    """Save the number read inside the region into ``save_to``; ``1,234`` → ``1234`` (thousands separators).

    What is not exactly one number (``pattern`` cuts it out of longer text first) fails the step, or saves
    ``default``. ``record`` also stores it on the account the bot holds: ``shinedust``, ``hourglasses``,
    ``wonder_picks_done`` set that account column; ``packs_opened``, ``cards_found``, ``stars_total``,
    ``keep_count`` are reported with the account's result by ``CompleteAccount`` (unless it gives them), so
    ``emufleet pools stats`` and the console count what the bot saw.
    """

    NAME = "ReadNumber"
    record: Literal["shinedust", "hourglasses", "packs_opened", "wonder_picks_done", "cards_found", "stars_total",
                    "keep_count"] | None = None

    def run(self, ex: Executor) -> None:
        text = self._text(ex)
        number = parse_number(text) if text is not None else None
        if number is None:
            return self._missing(ex, f"not a number: read {text!r}" if text else "no number read")
        value = str(number)
        ex.ctx.variables.set(self.save_to, value)
        if self.record is None:
            return
        if not isinstance(number, int) or number < 0:
            raise ex.error(f"{self.record} must be a non-negative integer, read {value}")
        if self.record in RESULT_COUNTERS:
            ex.accounts()  # no pool: fail here, as the account actions do
            ex.ctx.screen_counts[self.record] = number
        else:
            ex.accounts().update_field(None, self.record, value)


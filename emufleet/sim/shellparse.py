"""Parse the POSIX sh subset the fake shell runs (reference §3.6, §5.2).

Supported: words with POSIX quoting (``'…'``, ``"…"`` with ``\\`` escapes, backslash outside quotes), ``#``
comments, ``$?``/``$$``/``$NAME``/``${NAME}`` (expanded at run time, so ``false; echo $?`` prints 1), unquoted
globs (``*``, ``?``, ``[``), pipelines with ``|`` and ``!``, lists with ``;``, ``&``, newline, ``&&`` and ``||``,
and redirections ``[n]>``, ``[n]>>``, ``[n]<``, ``[n]>&m``. Quoted text is never expanded or split, so
``input text '; rm -rf /'`` is one literal argument.

The result is a :data:`Script`: a list of :class:`AndOr` lists, each a chain of :class:`Pipeline` s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AndOr", "Command", "Pipeline", "Redirect", "Script", "ShellSyntaxError", "Var", "Word", "parse"]


class ShellSyntaxError(ValueError):
    """The command line is not valid sh (unterminated quote, missing redirect target, …)."""


@dataclass(frozen=True, slots=True)
class Var:
    """A parameter expansion (``$?``, ``$NAME``) inside a word."""

    name: str


@dataclass(slots=True)
class Word:
    """One word: literal text and expansions; ``quoted`` if any part was quoted (an empty quoted word stays)."""

    parts: list[str | Var] = field(default_factory=list)
    quoted: bool = False
    glob: bool = False  # an unquoted *, ? or [ appeared

    def add(self, text: str) -> None:
        if self.parts and isinstance(self.parts[-1], str):
            self.parts[-1] += text
        else:
            self.parts.append(text)

    @property
    def empty(self) -> bool:
        return not self.parts and not self.quoted


@dataclass(frozen=True, slots=True)
class Redirect:
    """``fd op target``: op is ``>``, ``>>``, ``<`` or ``>&`` (target is then an fd number word)."""

    fd: int
    op: str
    target: Word


@dataclass(slots=True)
class Command:
    words: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)


@dataclass(slots=True)
class Pipeline:
    commands: list[Command]
    negate: bool = False


@dataclass(slots=True)
class AndOr:
    """``first (op pipeline)*`` with op ``&&`` or ``||``."""

    first: Pipeline
    rest: list[tuple[str, Pipeline]] = field(default_factory=list)


Script = list[AndOr]

_OPERATORS = ("&&", "||", ">>", ">&", "<&", ">|", ";", "&", "|", "<", ">", "\n", "(", ")")
_SPECIAL_VARS = "?$#!0-@*"


@dataclass(frozen=True, slots=True)
class _Op:
    text: str
    fd: int | None = None  # the IO number before a redirection operator


def _tokenize(text: str) -> list[Word | _Op]:
    tokens: list[Word | _Op] = []
    word = Word()
    digits_only = True  # the current word is unquoted digits (a candidate IO number)
    i, n = 0, len(text)

    def flush() -> None:
        nonlocal word, digits_only
        if not word.empty:
            tokens.append(word)
        word, digits_only = Word(), True

    def dollar(i: int) -> int:
        """Add the expansion starting at the ``$`` at ``i`` to the word (a literal ``$`` if no name follows).

        Returns the index after it.
        """
        j = i + 1
        if j < n and text[j] in _SPECIAL_VARS:
            var, end = Var(text[j]), j + 1
        elif j < n and text[j] == "{":
            close = text.find("}", j)
            if close < 0:
                raise ShellSyntaxError("missing '}'")
            var, end = Var(text[j + 1:close]), close + 1
        else:
            end = j
            while end < n and (text[end].isalnum() or text[end] == "_"):
                end += 1
            if end == j:
                word.add("$")
                return j
            var = Var(text[j:end])
        word.parts.append(var)
        return end

    while i < n:
        ch = text[i]
        if ch in " \t":
            flush()
            i += 1
        elif ch == "#" and word.empty:
            while i < n and text[i] != "\n":
                i += 1
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ShellSyntaxError("unterminated quoted string")
            word.add(text[i + 1:end])
            word.quoted, digits_only = True, False
            i = end + 1
        elif ch == '"':
            word.quoted, digits_only = True, False
            i += 1
            while True:
                if i >= n:
                    raise ShellSyntaxError("unterminated quoted string")
                c = text[i]
                if c == '"':
                    i += 1
                    break
                if c == "\\" and i + 1 < n and text[i + 1] in '$`"\\\n':
                    if text[i + 1] != "\n":
                        word.add(text[i + 1])
                    i += 2
                elif c == "$":
                    i = dollar(i)
                else:
                    word.add(c)
                    i += 1
        elif ch == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                word.add(text[i + 1])
                word.quoted, digits_only = True, False
            i += 2
        elif ch == "$":
            i = dollar(i)
            digits_only = False
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                word.add(ch)
                if ch in "*?[":
                    word.glob = True
                if not ch.isdigit():
                    digits_only = False
                i += 1
                continue
            fd = None
            if op[0] in "<>" and not word.empty and digits_only and not word.quoted:
                fd = int("".join(p for p in word.parts if isinstance(p, str)))
                word, digits_only = Word(), True
            flush()
            tokens.append(_Op(op, fd))
            i += len(op)
    flush()
    return tokens


class _Parser:
    def __init__(self, tokens: list[Word | _Op]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> Word | _Op | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self) -> Word | _Op | None:
        tok = self.peek()
        self.pos += 1
        return tok

    def script(self) -> Script:
        out: Script = []
        while True:
            tok = self.peek()
            while isinstance(tok, _Op) and tok.text in (";", "\n", "&"):
                if tok.text != "\n" and not out:
                    raise ShellSyntaxError(f"syntax error: unexpected '{tok.text}'")
                self.next()
                tok = self.peek()
            if tok is None:
                return out
            out.append(self.and_or())
            tok = self.peek()
            if tok is not None and not (isinstance(tok, _Op) and tok.text in (";", "\n", "&")):
                raise ShellSyntaxError(f"syntax error: unexpected '{_show(tok)}'")

    def and_or(self) -> AndOr:
        node = AndOr(self.pipeline())
        while isinstance(tok := self.peek(), _Op) and tok.text in ("&&", "||"):
            self.next()
            while isinstance(nl := self.peek(), _Op) and nl.text == "\n":
                self.next()
            node.rest.append((tok.text, self.pipeline()))
        return node

    def pipeline(self) -> Pipeline:
        negate = False
        tok = self.peek()
        if isinstance(tok, Word) and tok.parts == ["!"] and not tok.quoted:
            self.next()
            negate = True
        commands = [self.command()]
        while isinstance(tok := self.peek(), _Op) and tok.text == "|":
            self.next()
            commands.append(self.command())
        return Pipeline(commands, negate)

    def command(self) -> Command:
        cmd = Command()
        while True:
            tok = self.peek()
            if isinstance(tok, Word):
                cmd.words.append(tok)
                self.next()
            elif isinstance(tok, _Op) and tok.text[0] in "<>":
                self.next()
                target = self.next()
                if not isinstance(target, Word):
                    raise ShellSyntaxError(f"syntax error: missing target after '{tok.text}'")
                op = {">|": ">", "<&": ">&"}.get(tok.text, tok.text)
                default_fd = 0 if tok.text[0] == "<" else 1
                cmd.redirects.append(Redirect(default_fd if tok.fd is None else tok.fd, op, target))
            else:
                break
        if not cmd.words and not cmd.redirects:
            raise ShellSyntaxError(f"syntax error: unexpected '{_show(self.peek())}'")
        return cmd


def _show(tok: Word | _Op | None) -> str:
    if tok is None:
        return "end of file"
    if isinstance(tok, _Op):
        return "newline" if tok.text == "\n" else tok.text
    return "".join(p if isinstance(p, str) else f"${p.name}" for p in tok.parts)


def parse(text: str) -> Script:
    """Parse a command line; raises :class:`ShellSyntaxError`. Subshells ``( … )`` are not supported."""
    tokens = _tokenize(text)
    for tok in tokens:
        if isinstance(tok, _Op) and tok.text in "()":
            raise ShellSyntaxError(f"syntax error: unexpected '{tok.text}'")
    return _Parser(tokens).script()

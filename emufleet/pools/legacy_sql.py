"""Reading the seed's legacy pool SQL (digest §5.3) into structured queries, and saying exactly what does not fit.

Only what the unified filter grammar can express is turned into filters: ``SELECT … FROM accounts [alias]``, a
``WHERE`` of comparisons (``= != <> > >= < <=``), ``[NOT] IN (…)``, ``[NOT] LIKE``, ``IS [NOT] NULL`` and
``BETWEEN`` (two filters) combined with ``AND``, and ``OR`` (split into several queries, which a pool unions),
then ``ORDER BY column [ASC|DESC]`` and ``LIMIT n``. Values are literals, the ``?`` parameters bound in order, or
``datetime('now', '-7 days')``. Everything else (joins, sub-queries, functions of columns, column-to-column
comparisons, ``NOT (…)``, ``GROUP BY``, ``NULLS FIRST``, ``OFFSET``) is reported as a :class:`SqlProblem` with the
fragment it concerns; nothing is silently dropped. The SQL is only read here, never executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TypeAlias

from emufleet.boundary import YamlValue

__all__ = ["Predicate", "SqlProblem", "SqlQuery", "read_select"]

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op><>|!=|>=|<=|=|<|>)
  | (?P<punct>[(),?*])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)
  | (?P<comment>--[^\n]*)
  | (?P<other>\S)
)""", re.VERBOSE)
_CLAUSES = ("FROM", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "UNION")
_MAX_QUERIES = 16  # an OR of ANDs of ORs explodes; past this a pool is not the right tool


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str
    pos: int  # offset in the SQL text

    @property
    def upper(self) -> str:
        return self.text.upper()


@dataclass(frozen=True, slots=True)
class SqlProblem:
    """Something the unified format cannot express: what, and the SQL fragment (``offset`` into the SQL)."""

    message: str
    fragment: str
    offset: int


@dataclass(frozen=True, slots=True)
class Predicate:
    """One filter: ``column comparator value`` (column as written, before the legacy-name mapping)."""

    column: str
    comparator: str
    value: YamlValue
    fragment: str
    offset: int


#: A parsed WHERE clause: a predicate, ``("and" | "or", operands)``, or ``None`` for a term that could not be read.
_Tree: TypeAlias = "Predicate | tuple[str, list[_Tree]] | None"


@dataclass
class SqlQuery:
    """A legacy SELECT read as structured parts: one AND-group of predicates per query (OR splits them)."""

    groups: list[list[Predicate]] = field(default_factory=lambda: [[]])
    sort: list[tuple[str, str]] = field(default_factory=list)  # (column, asc|desc)
    limit: int | None = None
    problems: list[SqlProblem] = field(default_factory=list)
    parameters_used: int = 0


class _Unsupported(Exception):
    def __init__(self, message: str, tokens: list[_Tok] | _Tok, sql: str) -> None:
        toks = tokens if isinstance(tokens, list) else [tokens]
        start, end = (toks[0].pos, toks[-1].pos + len(toks[-1].text)) if toks else (0, 0)
        super().__init__(message)
        self.problem = SqlProblem(message, " ".join(sql[start:end].split()), start)


def _tokens(sql: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind != "comment":
            out.append(_Tok(kind, m.group(kind), m.start(kind)))
    return out


def read_select(sql: str, parameters: list[YamlValue]) -> SqlQuery:
    """Read one legacy SELECT with its positional ``parameters`` (values, in ``?`` order)."""
    toks = _tokens(sql)
    query = SqlQuery()
    params = iter(enumerate(parameters))
    marks = {t.pos: None for t in toks if t.text == "?"}
    bound = dict(zip(marks, params, strict=False))  # every ? in the text, whatever clause it is in, in order
    query.parameters_used = min(len(marks), len(parameters))
    if len(marks) != len(parameters):
        query.problems.append(SqlProblem(f"the SQL has {len(marks)} ? placeholders but {len(parameters)} "
                                         "parameters are given", "", 0))
    clauses = _split(toks)
    if "SELECT" not in clauses:
        query.problems.append(SqlProblem("not a SELECT statement", " ".join(sql.split())[:60], 0))
        return query
    for name in ("GROUP", "HAVING", "OFFSET", "UNION"):
        if name in clauses:
            query.problems.append(_fragment(f"{name} BY" if name == "GROUP" else name, clauses[name], sql,
                                            f"{name.title()} has no structured form"))
    alias = _from(clauses.get("FROM", []), sql, query)
    if "WHERE" in clauses:
        try:
            parser = _Parser(clauses["WHERE"], sql, bound, alias)
            tree = parser.parse()
            query.problems.extend(parser.problems)
            query.groups = _dnf(tree, sql) if tree is not None else [[]]
        except _Unsupported as exc:
            query.problems.append(exc.problem)
            query.groups = []
    if "ORDER" in clauses:
        _order(clauses["ORDER"], sql, alias, query)
    if "LIMIT" in clauses:
        _limit(clauses["LIMIT"], sql, bound, query)
    return query


def _split(toks: list[_Tok]) -> dict[str, list[_Tok]]:
    """Top-level clauses (outside parentheses): SELECT, FROM, WHERE, ORDER (BY), … → their tokens."""
    out: dict[str, list[_Tok]] = {}
    current: list[_Tok] | None = None
    depth, i = 0, 0
    while i < len(toks):
        tok = toks[i]
        depth += (tok.text == "(") - (tok.text == ")")
        if depth == 0 and tok.kind == "word" and (tok.upper == "SELECT" or tok.upper in _CLAUSES):
            current = out.setdefault(tok.upper, [])
            i += 2 if tok.upper in ("GROUP", "ORDER") and i + 1 < len(toks) and toks[i + 1].upper == "BY" else 1
            continue
        if current is not None:
            current.append(tok)
        i += 1
    return out


def _fragment(name: str, toks: list[_Tok], sql: str, message: str) -> SqlProblem:
    return _Unsupported(f"{message} ({name} …)", toks or [], sql).problem


def _from(toks: list[_Tok], sql: str, query: SqlQuery) -> str | None:
    """The alias of ``accounts`` (or ``None``); a join or another table is a problem."""
    if not toks:
        query.problems.append(SqlProblem("no FROM accounts", "", 0))
        return None
    if toks[0].upper != "ACCOUNTS":
        query.problems.append(_Unsupported("a pool selects from the accounts table only", toks, sql).problem)
        return None
    rest = toks[1:]
    alias = None
    if rest and rest[0].upper == "AS":
        rest = rest[1:]
    if rest and rest[0].kind == "word" and rest[0].upper not in ("LEFT", "RIGHT", "INNER", "JOIN", "CROSS"):
        alias, rest = rest[0].text, rest[1:]
    if rest:
        query.problems.append(_Unsupported("joins are not expressible: a pool filters the columns of accounts, "
                                           "not other tables (routine_executions, sub-queries)", rest, sql).problem)
    return alias


def _column(tok: _Tok, alias: str | None) -> str | None:
    if tok.kind != "word":
        return None
    prefix, _, name = tok.text.rpartition(".")
    if prefix and prefix != alias:
        return None  # a column of another table
    return name


class _Parser:
    """Recursive descent over a WHERE clause: ``or := and (OR and)*``, ``and := term (AND term)*``."""

    def __init__(self, toks: list[_Tok], sql: str, bound: dict[int, tuple[int, YamlValue]], alias: str | None) -> None:
        self.toks, self.sql, self.bound, self.alias, self.i = toks, sql, bound, alias, 0
        self.problems: list[SqlProblem] = []  # terms that could not be read; the parse goes on after each

    def parse(self) -> _Tree:
        tree = self.or_()
        if self.i < len(self.toks):
            raise _Unsupported("unexpected SQL here", self.toks[self.i:], self.sql)
        return tree

    def peek(self, offset: int = 0) -> _Tok | None:
        j = self.i + offset
        return self.toks[j] if j < len(self.toks) else None

    def take(self, upper: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None or (upper is not None and tok.upper != upper):
            raise _Unsupported(f"expected {upper or 'more SQL'}", self.toks[max(0, self.i - 1):], self.sql)
        self.i += 1
        return tok

    def or_(self) -> _Tree:
        items = [self.and_()]
        while (tok := self.peek()) is not None and tok.upper == "OR":
            self.i += 1
            items.append(self.and_())
        return ("or", items) if len(items) > 1 else items[0]

    def and_(self) -> _Tree:
        items = [self.guarded_term()]
        while (tok := self.peek()) is not None and tok.upper == "AND":
            self.i += 1
            items.append(self.guarded_term())
        return ("and", items) if len(items) > 1 else items[0]

    def guarded_term(self) -> _Tree:
        """A term, or ``None`` after recording why it cannot be read (then every other term is still read)."""
        start = self.i
        try:
            return self.term()
        except _Unsupported as exc:
            self.problems.append(exc.problem)
            self.i = self.resync(start)
            return None

    def resync(self, start: int) -> int:
        """The index of the AND/OR (or closing parenthesis) that ends the term beginning at ``start``."""
        depth, betweens = 0, 0
        for j in range(start, len(self.toks)):
            tok = self.toks[j]
            if tok.text == "(":
                depth += 1
            elif tok.text == ")":
                if depth == 0:
                    return j
                depth -= 1
            elif depth == 0 and tok.upper == "BETWEEN":
                betweens += 1
            elif depth == 0 and tok.upper == "AND" and betweens:
                betweens -= 1  # BETWEEN x AND y: this AND is the range's
            elif depth == 0 and tok.upper in ("AND", "OR") and j > start:
                return j
        return len(self.toks)

    def term(self) -> _Tree:
        tok = self.peek()
        if tok is not None and tok.upper == "NOT" and (nxt := self.peek(1)) is not None and nxt.text == "(":
            start = self.i
            self.i += 1
            self.group()
            raise _Unsupported("NOT (…) has no structured form: negate each filter instead",
                               self.toks[start:self.i], self.sql)
        if tok is not None and tok.text == "(":
            return self.group()
        return self.predicate()

    def group(self) -> _Tree:
        self.take("(")
        inner = self.or_()
        self.take(")")
        return inner

    def operand(self) -> tuple[str, YamlValue, list[_Tok]]:
        """``("column", name)``, ``("value", v)`` or raises for what a filter cannot take."""
        start = self.i
        tok = self.take()
        if tok.text == "?":
            if tok.pos not in self.bound:
                raise _Unsupported("a ? placeholder without a parameter", tok, self.sql)
            return "value", self.bound[tok.pos][1], [tok]
        if tok.kind == "str":
            return "value", tok.text[1:-1].replace("''", "'"), [tok]
        if tok.kind == "num":
            return "value", float(tok.text) if "." in tok.text else int(tok.text), [tok]
        if tok.kind == "word" and (nxt := self.peek()) is not None and nxt.text == "(":
            depth = 0
            while True:
                t = self.take()
                depth += (t.text == "(") - (t.text == ")")
                if depth == 0 and t.text == ")":
                    break
            toks = self.toks[start:self.i]
            text = self.sql[toks[0].pos:toks[-1].pos + 1]
            if re.fullmatch(r"(?i)datetime\(\s*'now'\s*(,\s*'[^']*'\s*)?\)", text):
                return "value", text, toks  # the filter grammar reads SQLite's relative times itself
            raise _Unsupported("functions of columns are not expressible", toks, self.sql)
        if tok.kind == "word" and tok.upper not in ("NULL", "AND", "OR", "NOT"):
            name = _column(tok, self.alias)
            if name is None:
                raise _Unsupported("a column of another table (a join) is not expressible", tok, self.sql)
            return "column", name, [tok]
        raise _Unsupported("unexpected SQL here", tok, self.sql)

    def predicate(self) -> _Tree:
        start = self.i
        kind, left, _ = self.operand()
        negate = False
        tok = self.take()
        if tok.upper == "NOT":
            negate, tok = True, self.take()
        if tok.upper == "IS":
            nxt = self.peek()
            not_ = nxt is not None and nxt.upper == "NOT"
            if not_:
                self.i += 1
            self.take("NULL")
            return self.make(kind, left, "IS NOT NULL" if not_ else "IS NULL", None, start)
        if tok.upper == "IN":
            self.take("(")
            values = []
            while True:
                vkind, value, vt = self.operand()
                if vkind != "value":
                    raise _Unsupported("IN takes values only", vt, self.sql)
                values.append(value)
                if self.take().text == ")":
                    break
            return self.make(kind, left, "NOT IN" if negate else "IN", values, start)
        if tok.upper == "LIKE":
            vkind, value, vt = self.operand()
            return self.make(kind, left, "NOT LIKE" if negate else "LIKE", self.value(vkind, value, vt), start)
        if tok.upper == "BETWEEN":
            lo_kind, lo, lt = self.operand()
            self.take("AND")
            hi_kind, hi, ht = self.operand()
            if negate:
                raise _Unsupported("NOT BETWEEN is an OR of two ranges: write it as two queries",
                                   self.toks[start:self.i], self.sql)
            low = self.make(kind, left, ">=", self.value(lo_kind, lo, lt), start)
            high = self.make(kind, left, "<=", self.value(hi_kind, hi, ht), start)
            return ("and", [low, high])
        if tok.kind == "op" and not negate:
            rkind, right, rt = self.operand()
            if kind == "value" and rkind == "column":  # 5 <= packs → packs >= 5
                flipped = {">": "<", "<": ">", ">=": "<=", "<=": ">="}.get(tok.text, tok.text)
                return self.make(rkind, right, flipped, left, start)
            return self.make(kind, left, tok.text, self.value(rkind, right, rt), start)
        raise _Unsupported("unexpected SQL here", self.toks[start:self.i], self.sql)

    def value(self, kind: str, value: YamlValue, toks: list[_Tok]) -> YamlValue:
        if kind != "value":
            raise _Unsupported("comparing two columns is not expressible (filters compare a column with a value)",
                               toks, self.sql)
        return value

    def make(self, kind: str, column: YamlValue, comparator: str, value: YamlValue, start: int) -> Predicate:
        toks = self.toks[start:self.i]
        if kind != "column":
            raise _Unsupported("a filter needs a column on one side", toks, self.sql)
        text = " ".join(self.sql[toks[0].pos:toks[-1].pos + len(toks[-1].text)].split())
        return Predicate(column, "!=" if comparator == "<>" else comparator, value, text, toks[0].pos)


def _dnf(tree: _Tree, sql: str) -> list[list[Predicate]]:
    """The WHERE tree as an OR of AND-groups (each group becomes one query); ``None`` constrains nothing."""
    if tree is None:
        return [[]]
    if isinstance(tree, Predicate):
        return [[tree]]
    kind, items = tree
    parts = [_dnf(item, sql) for item in items if item is not None]  # unreadable terms are already reported
    if kind == "or":  # an OR whose every branch was unreadable constrains nothing that can be written
        return [group for part in parts for group in part] or [[]]
    groups: list[list[Predicate]] = [[]]
    for part in parts:
        groups = [g + h for g in groups for h in part]
        if len(groups) > _MAX_QUERIES:
            raise _Unsupported(f"this mix of AND and OR needs more than {_MAX_QUERIES} queries", [], sql)
    return groups


def _order(toks: list[_Tok], sql: str, alias: str | None, query: SqlQuery) -> None:
    items: list[list[_Tok]] = [[]]
    for tok in toks:
        if tok.text == ",":
            items.append([])
        else:
            items[-1].append(tok)
    for item in items:
        if not item:
            continue
        name = _column(item[0], alias)
        words = [t.upper for t in item[1:]]
        if name is None or (len(item) > 1 and item[1].text == "("):
            query.problems.append(_Unsupported("ORDER BY an expression or another table's column is not "
                                               "expressible", item, sql).problem)
            continue
        if "NULLS" in words:
            query.problems.append(_Unsupported("NULLS FIRST/LAST has no structured form (the database's default "
                                               "NULL order applies)", item, sql).problem)
            words = words[:words.index("NULLS")]
        if words not in ([], ["ASC"], ["DESC"]):
            query.problems.append(_Unsupported("unexpected ORDER BY item", item, sql).problem)
            continue
        query.sort.append((name, "desc" if words == ["DESC"] else "asc"))


def _limit(toks: list[_Tok], sql: str, bound: dict[int, tuple[int, YamlValue]], query: SqlQuery) -> None:
    if len(toks) == 1 and toks[0].text == "?" and toks[0].pos in bound:
        value = bound[toks[0].pos][1]
    elif len(toks) == 1 and toks[0].kind == "num":
        value = toks[0].text
    else:
        query.problems.append(_Unsupported("LIMIT takes one number", toks, sql).problem)
        return
    try:
        query.limit = int(value)
    except (TypeError, ValueError):
        query.problems.append(_Unsupported(f"LIMIT {value!r} is not a number", toks, sql).problem)

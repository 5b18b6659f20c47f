"""The QuickBooks Online query language: parse a SELECT statement, run it over stored records.

Grammar (reference §3): SELECT * [, prop]... | COUNT(*) FROM <Entity> [WHERE cond [AND cond]...]
[ORDERBY | ORDER BY field [ASC|DESC], ...] [STARTPOSITION n] [MAXRESULTS n] (paging in either order).
Refusals carry the Fault code/Message/Detail QuickBooks answers with (see query_faults).
"""
from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, replace

from sandbox.quickbooks.query_eval import run
from sandbox.quickbooks.query_faults import QueryError, invalid_query, syntax_error
from sandbox.quickbooks.query_lexer import Literal, Token, tokenize

__all__ = ["Condition", "Query", "QueryError", "parse", "run", "MAX_RESULTS_LIMIT"]

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS_LIMIT = 1000
OPERATORS = ("<", "<=", "=", ">", ">=", "in", "like")
_VALUE_KINDS = ("BOOLEAN", "NUMBER", "STRING")
_AFTER_CONDITION = ("EOF", "AND", "iterator", "maxresults", "OR", "order", "orderby", "startposition")


@dataclass(frozen=True)
class Condition:
    """`field op value`; op is one of = < > <= >= LIKE IN, value a tuple for IN."""

    field: str
    op: str
    value: Literal | tuple[Literal, ...]


@dataclass(frozen=True)
class Query:
    """A parsed SELECT statement."""

    entity: str
    count: bool
    conditions: tuple[Condition, ...] = ()
    order_by: tuple[tuple[str, bool], ...] = ()
    start_position: int = 1
    max_results: int = DEFAULT_MAX_RESULTS
    # Properties named after `*, ` (python-quickbooks Item.all sends `SELECT *, Sku FROM Item`).
    projected: tuple[str, ...] = ()


def parse(statement: str, known_entities: Collection[str], *, entity_case_sensitive: bool = True) -> Query:
    """Parse `statement`; QueryError (4000 syntax, 4001 validation) as QuickBooks would answer.

    Syntax is checked over the whole statement before anything is validated (4000 wins over 4001).
    `entity_case_sensitive=False` resolves `vendor` to the known `Vendor`: the reference says
    entity names are case-sensitive, yet node-quickbooks sends `select * from vendor` and
    quickbooks-ruby#54/#309 show `from customer` / `FROM ITEM` reaching the parser.
    """
    parser = _Parser(tokenize(statement))
    query = parser.statement()
    entity = _resolve_entity(query.entity, known_entities, entity_case_sensitive)
    if entity is None:
        # Real answer to FROM Custmoer: faults/4001_invalid_query__400.json.
        raise invalid_query(f"invalid context declaration: {query.entity}")
    if parser.refusal is not None:
        raise parser.refusal
    return replace(query, entity=entity)


def _resolve_entity(written: str, known_entities: Collection[str], case_sensitive: bool) -> str | None:
    """The known entity name `written` refers to, or None."""
    if written in known_entities:
        return written
    if case_sensitive:
        return None
    return next((name for name in known_entities if name.lower() == written.lower()), None)


def _images(kinds: tuple[str, ...]) -> list[str]:
    """JavaCC token images for an expected-token list."""
    return [Token(kind, "", 0, 0).kind_image for kind in kinds]


class _Parser:
    """Recursive descent over the token list, one method per clause."""

    def __init__(self, tokens: Iterator[Token]) -> None:
        self.stream, self.tokens, self.at = tokens, [], 0
        self.refusal: QueryError | None = None

    def refuse(self, error: QueryError) -> None:
        """Remember the first validation failure; it is raised only if the syntax is sound."""
        self.refusal = self.refusal or error

    def peek(self) -> Token:
        """The next unread token, lexed only now."""
        while len(self.tokens) <= self.at:
            self.tokens.append(next(self.stream))
        return self.tokens[self.at]

    def expect(self, *kinds: str) -> Token:
        """Consume the next token if it is one of `kinds`, else a 4000 naming what was expected."""
        token = self.peek()
        if token.kind not in kinds:
            raise syntax_error(token.found(), token.line, token.column, _images(kinds))
        self.at += 1
        return token

    def follow(self, *allowed: str) -> None:
        """Refuse a next token that cannot follow the clause just read, listing what could."""
        token = self.peek()
        if token.kind not in allowed:
            raise syntax_error(token.found(), token.line, token.column, _images(allowed))
        if token.kind == "iterator":
            # A token of QuickBooks' grammar whose meaning is undocumented; refused (our wording).
            raise invalid_query("ITERATOR is not supported")

    def statement(self) -> Query:
        """SELECT projection FROM entity, then the optional clauses."""
        self.expect("select")
        count, projected = self.projection()
        self.expect("from")
        entity = self.entity()
        self.follow("EOF", "iterator", "maxresults", "order", "orderby", "startposition", "where")
        conditions = self.where()
        order_by = self.order_by()
        start_position, max_results = self.paging()
        return Query(entity, count, conditions, order_by, start_position, max_results, projected)

    def projection(self) -> tuple[bool, tuple[str, ...]]:
        """`*`, `*, prop[, prop]...` or `COUNT(*)`: (is COUNT, the properties named after `*`)."""
        if self.expect("*", "count").kind == "count":
            self.expect("(")
            self.expect("*")
            self.expect(")")
            return True, ()
        # `*, Sku` is what python-quickbooks 0.9.12 Item.all() sends: its issue #373 says QuickBooks
        # returns Sku only when asked for. A bare list (SELECT Id, DisplayName) stays refused: reference §3
        # says "no projections" and no recorded query used one. Records come back whole (as for `*`).
        projected = []
        while self.peek().kind == ",":
            self.at += 1
            projected.append(self.expect("IDENTIFIER").image)
        self.follow(",", "from")
        return False, tuple(projected)

    def entity(self) -> str:
        """The entity name as written (checked against the known ones after parsing)."""
        return self.expect("IDENTIFIER").image

    def where(self) -> tuple[Condition, ...]:
        """Optional WHERE with AND-ed conditions; OR is refused."""
        if self.peek().kind != "where":
            return ()
        self.at += 1
        conditions = [self.condition()]
        while self.peek().kind in ("AND", "OR"):
            if self.peek().kind == "OR":
                # OR is a token of QuickBooks' grammar (it is in the "Was expecting" lists) but
                # the operation is unsupported (Intuit docs, ruckus/quickbooks-ruby#95); this
                # 4001 detail is our wording: no real answer to an OR query was found.
                self.refuse(invalid_query("OR operation is not supported"))
            self.at += 1
            conditions.append(self.condition())
        self.follow(*_AFTER_CONDITION)
        return tuple(conditions)

    def condition(self) -> Condition:
        """`field op value` or `field IN (v, ...)`."""
        field = self.expect("IDENTIFIER").image
        op = self.expect(*OPERATORS).kind
        if op == "in":
            return Condition(field, "IN", self.value_list())
        value = self.expect(*(("STRING",) if op == "like" else _VALUE_KINDS))
        return Condition(field, op.upper(), value.value)

    def value_list(self) -> tuple[Literal, ...]:
        """`( v1, v2, ... )`, at least one value."""
        self.expect("(")
        values = [self.expect(*_VALUE_KINDS).value]
        while self.expect(",", ")").kind == ",":
            values.append(self.expect(*_VALUE_KINDS).value)
        return tuple(values)

    def order_by(self) -> tuple[tuple[str, bool], ...]:
        """Optional ORDERBY / ORDER BY list of `field [ASC|DESC]`."""
        if self.peek().kind not in ("order", "orderby"):
            return ()
        if self.expect("order", "orderby").kind == "order":
            self.expect("by")
        keys = [self.order_key()]
        while self.peek().kind == ",":
            self.at += 1
            keys.append(self.order_key())
        return tuple(keys)

    def order_key(self) -> tuple[str, bool]:
        """`field [ASC|DESC]`: (field path, descending)."""
        field = self.expect("IDENTIFIER").image
        if self.peek().kind in ("asc", "desc"):
            descending = self.expect("asc", "desc").kind == "desc"
            self.follow("EOF", ",", "iterator", "maxresults", "startposition")
            return field, descending
        self.follow("EOF", ",", "asc", "desc", "iterator", "maxresults", "startposition")
        return field, False

    def paging(self) -> tuple[int, int]:
        """STARTPOSITION and MAXRESULTS in either order (alt_select used MAXRESULTS first)."""
        values = {"startposition": 1, "maxresults": DEFAULT_MAX_RESULTS}
        pending = ["maxresults", "startposition"]
        while self.peek().kind in pending:
            keyword = self.expect(*pending).kind
            pending.remove(keyword)
            values[keyword] = self.page_number(keyword)
            self.follow("EOF", "iterator", *pending)
        return values["startposition"], values["maxresults"]

    def page_number(self, keyword: str) -> int:
        """A positive integer; MAXRESULTS at most 1000."""
        token = self.expect("NUMBER")
        if not isinstance(token.value, int) or token.value < 0:
            raise syntax_error(token.found(), token.line, token.column, _images(("NUMBER",)))
        if keyword == "maxresults" and token.value > MAX_RESULTS_LIMIT:
            # Real wording: ruckus/quickbooks-ruby#24 ("Invalid query: QueryValidationError: ...").
            limit = MAX_RESULTS_LIMIT
            self.refuse(invalid_query(f"value {token.value} is too large. Max allowed value is {limit}"))
        if token.value < 1:
            # Our wording, mirroring the real too-large message; QuickBooks' answer to 0 is unknown.
            self.refuse(invalid_query(f"value {token.value} is too small. Min allowed value is 1"))
        return token.value

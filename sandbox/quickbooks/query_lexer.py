"""Tokens of the QuickBooks query language, with the line/column positions its errors quote."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from sandbox.quickbooks.query_faults import javacc_escape, lexical_error

KEYWORDS = frozenset({
    "select", "from", "where", "count", "in", "like", "order", "by", "orderby",
    "asc", "desc", "startposition", "maxresults", "iterator",
})
# AND and OR are named tokens in QuickBooks' grammar: its "Was expecting" lists show `<AND>`,
# `<OR>` but `"orderby"` (mcohen01/node-quickbooks#56).
NAMED_KEYWORDS = {"and": "AND", "or": "OR", "true": "BOOLEAN", "false": "BOOLEAN"}
PUNCTUATION = ("<=", ">=", "=", "<", ">", "(", ")", ",", "*")
# The lexer refuses curly quotes even inside a string literal: "\u2019" (ruckus/quickbooks-ruby#309);
# “ reported the same way in intuit/QuickBooks-V3-PHP-SDK#395.
TYPOGRAPHIC_QUOTES = frozenset("\u2018\u2019\u201c\u201d")
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT_PART = _IDENT_START | frozenset("0123456789.")
_DIGITS = frozenset("0123456789")
_BLANKS = frozenset(" \t\r\n")

Literal = str | int | Decimal | bool


@dataclass(frozen=True)
class Token:
    """One token; `kind` is a keyword, a punctuation mark or an upper-case token class."""

    kind: str
    image: str
    line: int
    column: int
    value: Literal | None = None

    @property
    def kind_image(self) -> str:
        """How JavaCC names this token's kind in messages: `<IDENTIFIER>` or `"from"`."""
        return f'"{self.kind}"' if self.kind.islower() or not self.kind.isalpha() else f"<{self.kind}>"

    def found(self) -> str:
        """The `Encountered "..."` part of a parse error for this token."""
        if self.kind == "EOF":
            return "<EOF>"
        return f' {self.kind_image} "{javacc_escape(self.image)} "'


class _Cursor:
    """Reads the statement one character at a time, tracking 1-based line and column."""

    def __init__(self, text: str) -> None:
        self.text, self.index, self.line, self.column = text, 0, 1, 0

    def peek(self, ahead: int = 0) -> str | None:
        """The character `ahead` places past the cursor, None past the end."""
        at = self.index + ahead
        return self.text[at] if at < len(self.text) else None

    def take(self) -> str:
        """Consume one character."""
        char = self.text[self.index]
        self.index += 1
        if char == "\n":
            self.line, self.column = self.line + 1, 0
        else:
            self.column += 1
        return char

    def position_of_next(self) -> tuple[int, int]:
        """(line, column) of the next character."""
        return self.line, self.column + 1


def tokenize(statement: str) -> Iterator[Token]:
    """Yield tokens up to EOF; QueryError on a lexical error, raised only when reached."""
    # Lazy like QuickBooks' JavaCC lexer: in `= 'Amy's Bird'` the parser trips over `s`
    # (mcohen01/node-quickbooks#56) before the lexer ever meets the unterminated quote.
    cursor = _Cursor(statement)
    while True:
        while cursor.peek() is not None and cursor.peek() in _BLANKS:
            cursor.take()
        if cursor.peek() is None:
            # JavaCC places EOF on the last character read: line 0, column 0 for empty input.
            yield Token("EOF", "", cursor.line if cursor.index else 0, cursor.column)
            return
        yield _next_token(cursor)


def _next_token(cursor: _Cursor) -> Token:
    """Read one token starting at the cursor (no leading blanks)."""
    line, column = cursor.position_of_next()
    char = cursor.peek()
    if char == "'":
        return _string(cursor, line, column)
    if char in _DIGITS or (char == "-" and cursor.peek(1) in _DIGITS):
        return _number(cursor, line, column)
    if char in _IDENT_START:
        image = cursor.take()
        while cursor.peek() is not None and cursor.peek() in _IDENT_PART:
            image += cursor.take()
        return _word(image, line, column)
    for mark in PUNCTUATION:
        if cursor.text.startswith(mark, cursor.index):
            for _ in mark:
                cursor.take()
            return Token(mark, mark, line, column)
    raise lexical_error(line, column, char, "")


def _word(image: str, line: int, column: int) -> Token:
    """A keyword, boolean or identifier (dotted field paths are one identifier)."""
    lowered = image.lower()
    if lowered in KEYWORDS:
        return Token(lowered, image, line, column)
    if lowered in NAMED_KEYWORDS:
        value = lowered == "true" if NAMED_KEYWORDS[lowered] == "BOOLEAN" else None
        return Token(NAMED_KEYWORDS[lowered], image, line, column, value)
    return Token("IDENTIFIER", image, line, column, image)


def _string(cursor: _Cursor, line: int, column: int) -> Token:
    r"""A single-quoted literal; `\'` is an apostrophe and `\\` a backslash."""
    image, value = cursor.take(), []
    while True:
        char = cursor.peek()
        if char is None:
            raise lexical_error(cursor.line, cursor.column, None, image)
        if char in TYPOGRAPHIC_QUOTES:
            error_line, error_column = cursor.position_of_next()
            raise lexical_error(error_line, error_column, char, image)
        image += cursor.take()
        if char == "'":
            return Token("STRING", image, line, column, "".join(value))
        if char == "\\":
            if cursor.peek() is None:
                raise lexical_error(cursor.line, cursor.column, None, image)
            escaped = cursor.take()
            image += escaped
            value.append(escaped)
        else:
            value.append(char)


def _number(cursor: _Cursor, line: int, column: int) -> Token:
    """An integer or decimal literal, optionally negative."""
    image = cursor.take()
    while cursor.peek() is not None and cursor.peek() in _DIGITS:
        image += cursor.take()
    if cursor.peek() == "." and cursor.peek(1) is not None and cursor.peek(1) in _DIGITS:
        image += cursor.take()
        while cursor.peek() is not None and cursor.peek() in _DIGITS:
            image += cursor.take()
        return Token("NUMBER", image, line, column, Decimal(image))
    return Token("NUMBER", image, line, column, int(image))

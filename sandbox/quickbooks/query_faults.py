"""The Fault fields QuickBooks answers a refused query with (codes 4000 and 4001)."""
from __future__ import annotations

from collections.abc import Sequence

from sandbox.quickbooks.faults import ApiFault

PARSE_CODE = "4000"
PARSE_MESSAGE = "Error parsing query"
INVALID_CODE = "4001"
INVALID_MESSAGE = "Invalid query"

_JAVACC_ESCAPES = {
    "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r",
    '"': '\\"', "'": "\\'", "\\": "\\\\",
}


class QueryError(ApiFault):
    """A query QuickBooks would refuse; carries the Fault fields QuickBooks answers with."""

    def __init__(self, code: str, message: str, detail: str) -> None:
        super().__init__(400, code, message, detail)


def javacc_escape(text: str) -> str:
    """Escape like JavaCC's addEscapes, which QuickBooks' parser messages go through."""
    out = []
    for char in text:
        if char in _JAVACC_ESCAPES:
            out.append(_JAVACC_ESCAPES[char])
        elif char == "\0":
            continue
        elif ord(char) < 0x20 or ord(char) > 0x7E:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return "".join(out)


def lexical_error(line: int, column: int, char: str | None, after: str) -> QueryError:
    """A character no token accepts (None = end of input), e.g. ’ or %; 4000 as seen in the wild."""
    # Wording from real answers: pbrink231/quickbooks-node-promise#1 ("%" outside a string) and
    # ruckus/quickbooks-ruby#309 ("\u2019" inside one, with the partial token after "after :").
    if char is None:
        found = "<EOF> "
    else:
        found = f'"{javacc_escape(char)}" ({ord(char)}), '
    detail = (
        f"QueryParserError: Invalid content. Lexical error at line {line}, column {column}.  "
        f'Encountered: {found}after : "{javacc_escape(after)}"'
    )
    return QueryError(PARSE_CODE, PARSE_MESSAGE, detail)


def syntax_error(found: str, line: int, column: int, expected: Sequence[str]) -> QueryError:
    """An unexpected token; `found` is JavaCC's ` <KIND> "image "` part or `<EOF>`."""
    # Layout of JavaCC's ParseException as QuickBooks returns it (mcohen01/node-quickbooks#56,
    # consolibyte/quickbooks-php#129: 'Encountered "<EOF>" at line 0, column 0.').
    heading = "Was expecting:" if len(expected) == 1 else "Was expecting one of:"
    listing = "".join(
        f"{image} {'' if image == '<EOF>' else '...'}\n    " for image in expected
    )
    detail = (
        f'QueryParserError: Encountered "{found}" at line {line}, column {column}.\n'
        f"{heading}\n    {listing}"
    )
    return QueryError(PARSE_CODE, PARSE_MESSAGE, detail)


def invalid_query(reason: str) -> QueryError:
    """A statement that parses but fails validation: 4001 "Invalid query" (real fixture shape)."""
    return QueryError(INVALID_CODE, INVALID_MESSAGE, f"QueryValidationError: {reason}")

"""What counts as a space in text the API takes (names, invoice numbers, reasons, emails), stated once.

The checks drop surrounding spaces with ``strip_spaces`` and the OpenAPI document says "has a character
that is not a space" with ``NON_SPACE_PATTERN``; both come from SPACE_RANGES, written out rather than
``\\s``. A JSON Schema pattern is an ECMA-262 regex, whose ``\\s`` is not Python's (Python's counts
U+001C..U+001F and U+0085, ECMA-262's counts U+FEFF), and ``str.strip()`` follows Python's: with ``\\s``
in the document, schemathesis generated an email the document allowed and the check refused. So a space
here is a space to either. The escape used (``\\uNNNN``) means the same in Python, ECMA-262 and the Rust
regex of jsonschema-rs (which schemathesis validates with).
"""

from __future__ import annotations

from typing import Final

# every character that Python's str.isspace or ECMA-262's \s counts as a space, as (first, last) code points
SPACE_RANGES: Final = (
    (0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF),
)
SPACES: Final = "".join(chr(code) for first, last in SPACE_RANGES for code in range(first, last + 1))


def class_body(ranges: tuple[tuple[int, int], ...]) -> str:
    """The inside of a regex character class (``[...]``) holding ``ranges``, in escapes all three dialects read."""
    return "".join(f"\\u{first:04x}" if first == last else f"\\u{first:04x}-\\u{last:04x}" for first, last in ranges)


SPACE_CLASS: Final = class_body(SPACE_RANGES)
# a document pattern (unanchored): at least one character that is not a space
NON_SPACE_PATTERN: Final = f"[^{SPACE_CLASS}]"


def strip_spaces(value: str) -> str:
    """``value`` without surrounding spaces (any of SPACES)."""
    return value.strip(SPACES)

"""What an email address is, stated once: the register check (``valid_email``) and the OpenAPI
document's pattern (``EMAIL_SENT_PATTERN``) are both built from the character classes below.

An address is ``local@domain.tld``: three non-empty parts of characters that are neither ``@`` nor a
control character nor a space (finance/text.py: a space to Python or to ECMA-262). Sent, it may carry
spaces around it (dropped), and it is matched without regard to case (lowered). The length limit counts
what was sent.
"""

from __future__ import annotations

import re
from typing import Final

from finance.text import SPACE_CLASS, class_body, strip_spaces

EMAIL_LENGTH_MAX: Final = 254
_PART: Final = f"[^@{class_body(((0x00, 0x1F), (0x7F, 0x9F)))}{SPACE_CLASS}]+"  # no @, control or space
EMAIL_PATTERN: Final = f"^{_PART}@{_PART}\\.{_PART}$"
# the document's pattern: the address as sent, spaces around it included
EMAIL_SENT_PATTERN: Final = f"^[{SPACE_CLASS}]*{_PART}@{_PART}\\.{_PART}[{SPACE_CLASS}]*$"
_EMAIL: Final = re.compile(EMAIL_PATTERN)


def normal_email(sent: str) -> str:
    """``sent`` without the spaces around it, lowered: how an address is stored and looked up."""
    return strip_spaces(sent).lower()


def valid_email(sent: str) -> bool:
    """Whether ``sent`` is an address by the rule above (the rule EMAIL_SENT_PATTERN states)."""
    return len(sent) <= EMAIL_LENGTH_MAX and _EMAIL.fullmatch(normal_email(sent)) is not None

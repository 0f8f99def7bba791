"""The rule for text people send: printable characters only, of a bounded length.

A NUL or an unpaired surrogate cannot be stored in PostgreSQL or encoded as UTF-8; control,
zero-width and bidi-override characters make two different strings look the same on a screen.
One rule for every text field at every edge, so no such string gets further than the edge.
"""

from __future__ import annotations

import unicodedata

REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
"""Control, format (zero-width, bidi override), surrogate, private-use, unassigned, line and
paragraph separators."""


def text_problem(value: str, max_length: int) -> str | None:
    """Why `value` is not acceptable text of at most `max_length` characters, or None when it is."""
    if len(value) > max_length:
        return f"is longer than {max_length} characters"
    for ch in value:
        if unicodedata.category(ch) in REFUSED_CATEGORIES:
            return f"contains the character U+{ord(ch):04X}, which is not printable text"
    return None

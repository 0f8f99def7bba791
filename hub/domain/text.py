"""Free text that operators type (a bill's destination and vehicle): what may be stored and shown.

Codes are normalised instead (`bagcodes.normalise`); free text is kept as typed, so characters that
would corrupt a record or a screen are refused rather than silently dropped.
"""

from __future__ import annotations

import unicodedata

# Cc control (NUL, tab, newline, escape ...), Cf format (zero-width space and joiners, bidi
# overrides and isolates, soft hyphen), Cs a surrogate with no partner, Zl/Zp line and paragraph
# separators.
_REFUSED = {"Cc": "a control character", "Cf": "an invisible formatting character",
            "Cs": "an unpaired surrogate", "Zl": "a line separator", "Zp": "a paragraph separator"}


def text_problem(value: str, limit: int) -> str | None:
    """Why `value` cannot be stored as free text of at most `limit` characters, as a predicate
    ("is longer than ...", "has a control character ..."); None when it can."""
    if len(value) > limit:
        return f"is longer than {limit} characters"
    for position, char in enumerate(value, start=1):
        kind = _REFUSED.get(unicodedata.category(char))
        if kind is not None:
            return f"has {kind} (U+{ord(char):04X}) at position {position}"
    return None

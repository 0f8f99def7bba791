"""QR codes: normalised once at the edge, then classified as parent (of a format) or child."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

CHILD_PATTERN = re.compile(r"^[A-Z0-9]{4,20}$")
BILL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9/_-]{0,39}$")


def normalise(raw: str) -> str:
    """Strip whitespace, control, format (zero-width) and other invisible characters; upper-case.

    Keyboard-wedge scanners may add a prefix/suffix control character, a tab, a CR or a zero-width
    joiner. Uniqueness is case-insensitive because every code is stored upper-cased.
    """
    if raw.isascii() and raw.isprintable() and " " not in raw:  # as scanners send codes: nothing to strip
        return raw.upper()
    kept = [ch for ch in raw if not ch.isspace() and unicodedata.category(ch)[0] not in ("C", "Z")]
    return "".join(kept).upper()


@dataclass(frozen=True)
class ParentFormat:
    """A kind of parent bag: codes matching `pattern` hold `capacity` children."""

    name: str
    pattern: str
    capacity: int
    expected_kg: Decimal

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern.removeprefix("^").removesuffix("$"))

    def matches(self, code: str) -> bool:
        return self._regex.fullmatch(code) is not None


def parent_format(code: str, formats: tuple[ParentFormat, ...]) -> ParentFormat | None:
    """The format a normalised code belongs to, or None when it is not a parent code."""
    for fmt in formats:
        if fmt.matches(code):
            return fmt
    return None


def is_child_code(code: str, formats: tuple[ParentFormat, ...]) -> bool:
    """A child code is 4-20 of A-Z0-9 and not a parent code (parent formats win)."""
    return CHILD_PATTERN.match(code) is not None and parent_format(code, formats) is None


def is_bill_code(code: str) -> bool:
    return BILL_PATTERN.match(code) is not None

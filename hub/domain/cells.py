"""Cells of files the hub hands out (exports, error reports), safe to open in a spreadsheet."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def defused(text: str) -> str:
    """Text a spreadsheet will not run as a formula (CSV injection): a leading = + - @ tab or CR
    gets a quote before it, which spreadsheets show as text."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text

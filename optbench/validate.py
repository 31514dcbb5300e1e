"""Input checks shared by problems, optimizers, run specs and the CLI.

Every check raises :class:`OptbenchInputError` (a ``ValueError``) with one readable line that
names the offending field, before anything is compiled.
"""
from __future__ import annotations

import difflib
import math
from numbers import Integral, Real


class OptbenchInputError(ValueError):
    """Bad input: unknown name, invalid hyperparameter, wrong shape, unreadable file."""


def unknown(kind: str, name, valid) -> OptbenchInputError:
    valid = sorted(valid)
    close = difflib.get_close_matches(str(name), valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return OptbenchInputError(f"unknown {kind} {name!r}{hint}; valid: {', '.join(valid)}")


def number(field: str, value, *, lo=None, hi=None, lo_open=False, hi_open=False,
           integer=False, allow_none=False):
    """Return ``value`` as float (or int) after checking type, finiteness and range."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        try:
            value = float(value) if not integer else int(value)
        except (TypeError, ValueError):
            raise OptbenchInputError(f"{field} must be a number, got {value!r}") from None
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise OptbenchInputError(f"{field} must be an integer, got {value!r}")
        if not isinstance(value, Integral) and not (isinstance(value, float) and math.isfinite(value)):
            raise OptbenchInputError(f"{field} must be an integer, got {value!r}")
        value = int(value)
    else:
        value = float(value)
        if not math.isfinite(value):
            raise OptbenchInputError(f"{field} must be finite, got {value!r}")
    if lo is not None and (value < lo or (lo_open and value == lo)):
        op = ">" if lo_open else ">="
        raise OptbenchInputError(f"{field} must be {op} {lo}, got {value!r}")
    if hi is not None and (value > hi or (hi_open and value == hi)):
        op = "<" if hi_open else "<="
        raise OptbenchInputError(f"{field} must be {op} {hi}, got {value!r}")
    return value


def choice(field: str, value, valid):
    if value not in valid:
        raise unknown(field, value, valid)
    return value


def boolean(field: str, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, Integral) and value in (0, 1):
        return bool(value)
    raise OptbenchInputError(f"{field} must be true or false, got {value!r}")

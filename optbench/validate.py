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


def _kind(value) -> str:
    """How a value reads in a message: ``'1e-3' (a string)``, ``True (a bool)``."""
    if value is None:
        return "None"
    name = {"str": "string", "bool_": "bool"}.get(type(value).__name__, type(value).__name__)
    return f"{value!r} ({'an' if name[:1] in 'aeiou' else 'a'} {name})"


def _is_bool(value) -> bool:
    t = type(value)   # numpy's bool too (np.bool_, named "bool" since numpy 2)
    return isinstance(value, bool) or (t.__module__ == "numpy" and t.__name__ in ("bool", "bool_"))


def number(field: str, value, *, lo=None, hi=None, lo_open=False, hi_open=False,
           integer=False, allow_none=False, text=False):
    """Return ``value`` as float (or int) after checking type, finiteness and range.

    Numbers only: Python and numpy scalars (and 0-d numeric arrays); a bool is not a number
    and a string is not one either, unless ``text`` (a value read from the environment or a
    command line). Integer fields take integers and integral floats (``1e4``), nothing else."""
    if value is None and allow_none:
        return None
    if getattr(value, "ndim", None) == 0 and getattr(value, "dtype", None) is not None \
            and value.dtype.kind in ("i", "u", "f"):
        value = value.item()
    if text and isinstance(value, str):
        try:
            value = int(value) if integer and value.strip().lstrip("+-").isdigit() \
                else float(value)
        except ValueError:
            pass
    want = "an integer" if integer else "a number"
    if _is_bool(value) or not isinstance(value, Real):
        raise OptbenchInputError(f"{field} must be {want}, got {_kind(value)}")
    if integer:
        if not isinstance(value, Integral):
            value = float(value)
            if not (math.isfinite(value) and value.is_integer()):
                raise OptbenchInputError(f"{field} must be {want}, got {value!r}")
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
    """``value`` as a bool: True or False only (numpy's too), not 0, 1 or strings."""
    if _is_bool(value):
        return bool(value)
    raise OptbenchInputError(f"{field} must be true or false, got {_kind(value)}")

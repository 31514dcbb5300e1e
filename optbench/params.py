"""Declared parameters (of problems, optimizers, schedules) with defaults and validation."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import validate as V


@dataclass(frozen=True)
class Param:
    """One parameter: ``kind`` is 'float', 'int', 'bool' or 'choice'."""

    kind: str
    default: Any
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    doc: str = ""

    def check(self, field: str, value):
        if self.kind == "float":
            return V.number(field, value, lo=self.lo, hi=self.hi, lo_open=self.lo_open,
                            hi_open=self.hi_open, allow_none=self.default is None)
        if self.kind == "int":
            return V.number(field, value, lo=self.lo, hi=self.hi, integer=True,
                            allow_none=self.default is None)
        if self.kind == "bool":
            return V.boolean(field, value)
        if self.kind == "choice":
            return V.choice(field, value, self.choices)
        if self.kind == "any":
            return value
        raise AssertionError(self.kind)


def F(default, lo=None, hi=None, *, lo_open=False, hi_open=False, doc=""):
    return Param("float", default, lo, hi, lo_open, hi_open, doc=doc)


def I(default, lo=None, hi=None, doc=""):  # noqa: E743
    return Param("int", default, lo, hi, doc=doc)


def B(default, doc=""):
    return Param("bool", default, doc=doc)


def C(default, choices, doc=""):
    return Param("choice", default, choices=tuple(choices), doc=doc)


def resolve(owner: str, schema: dict[str, Param], given: dict) -> dict:
    """Merge ``given`` into the defaults of ``schema``; reject unknown or invalid values."""
    for k in given:
        if k not in schema:
            raise V.OptbenchInputError(
                f"{owner}: unknown parameter {k!r}; valid: {', '.join(schema) or '(none)'}")
    out = {}
    for k, p in schema.items():
        v = given.get(k, p.default)
        out[k] = p.check(f"{owner}.{k}", v)
    return out

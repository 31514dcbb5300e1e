"""One registration mechanism for both zoos (problems and optimizers).

Each zoo is a :class:`Zoo`: a mapping ``name -> class`` that family classes join with the
``@register`` decorator (``register = ZOO.register`` in the zoo's ``base.py``). The family
modules are declared once, as ``FAMILY_MODULES`` in the zoo package's ``__init__``; the zoo
imports them on first look-up, so importing the package stays cheap and a family is known
as soon as anything asks for a name. A plugin registers its class the same way (importing
its own module first).

``make(spec)`` builds an instance from any of the forms the project passes around: a family
name (with parameters as keywords), a canonical spec dict as stored in the ``problem_params``
/ ``optimizer_params`` JSON columns (``{"problem": name, ...}``; ``"name"`` is accepted too),
or an instance, which is returned as it is.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping

from optbench.validate import OptbenchInputError, unknown


class Zoo(MutableMapping):
    """The registered families of one kind (``"problem"`` or ``"optimizer"``).

    ``base``: the class every family derives from; ``package``: the package whose
    ``FAMILY_MODULES`` lists the family modules; ``check``: called on each class as it
    registers (it may normalise class attributes and raises on an invalid family)."""

    def __init__(self, kind: str, base: type, package: str,
                 check: Callable[[type], None] | None = None):
        self.kind, self.base, self.package, self.check = kind, base, package, check
        self._classes: dict[str, type] = {}
        self._loaded = False
        # names built by a factory instead of a registered class ("module:function", imported
        # on first use; the optimizers' bridges "torch" and "optax"): not families, so
        # listings and loops over names() leave them out
        self.external: dict[str, str] = {}

    # -- registration -------------------------------------------------------------------
    def register(self, cls):
        """Class decorator: add a family under ``cls.name`` (twice is an error)."""
        name = getattr(cls, "name", "")
        if not isinstance(name, str) or not name:
            raise RuntimeError(f"{self.kind} class {cls.__name__} needs a non-empty name")
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise RuntimeError(f"{self.kind} {name!r} must subclass {self.base.__name__}")
        if name in self._classes:
            raise RuntimeError(f"{self.kind} {name!r} registered twice")
        if self.check is not None:
            self.check(cls)
        self._classes[name] = cls
        return cls

    def load(self) -> None:
        """Import the package's declared ``FAMILY_MODULES`` (once)."""
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self.package)
        try:
            for module in package.FAMILY_MODULES:
                importlib.import_module(f"{self.package}.{module}")
        except BaseException:
            self._loaded = False
            raise

    # -- look-up ------------------------------------------------------------------------
    def names(self) -> list[str]:
        """The registered family names, sorted."""
        return sorted(self)

    def get(self, name, **params):
        """The family ``name`` built with ``params`` (an unknown name: one-line error); an
        instance is returned as it is (see :meth:`make`)."""
        if isinstance(name, self.base):
            return self.make(name, **params)
        if isinstance(name, str) and name in self.external and name not in self._classes:
            module, fn = self.external[name].split(":")
            return getattr(importlib.import_module(module), fn)(name, **params)
        if not isinstance(name, str) or name not in self:
            raise unknown(self.kind, name, self)
        return self[name](**params)

    def make(self, spec, **params):
        """An instance from a name (``params`` as keywords), a spec dict (its ``kind`` key or
        ``"name"`` names the family, the other keys are parameters; ``params`` override
        them), or an instance of the zoo's base class (returned as it is)."""
        if isinstance(spec, self.base):
            if params:
                raise OptbenchInputError(
                    f"{self.kind} {spec!r} is already built; parameters {sorted(params)} "
                    "cannot be applied to it")
            return spec
        if isinstance(spec, str):
            return self.get(spec, **params)
        if isinstance(spec, dict):
            d = dict(spec)
            name = d.pop(self.kind) if self.kind in d else d.pop("name", None)
            if name is None:
                raise OptbenchInputError(
                    f"{self.kind} spec needs {_a(self.kind)} {self.kind!r} name")
            return self.get(name, **{**d, **params})
        raise OptbenchInputError(f"{self.kind} must be a name, a table or "
                                 f"{_a(self.base.__name__)} {self.base.__name__}, got {spec!r}")

    # -- the mapping (loads the declared families first) ----------------------------------
    def __getitem__(self, name: str) -> type:
        self.load()
        return self._classes[name]

    def __setitem__(self, name: str, cls: type) -> None:   # tests register throwaway classes
        self._classes[name] = cls

    def __delitem__(self, name: str) -> None:
        del self._classes[name]

    def __iter__(self) -> Iterator[str]:
        self.load()
        return iter(list(self._classes))

    def __len__(self) -> int:
        self.load()
        return len(self._classes)

    def __repr__(self) -> str:
        return f"Zoo({self.kind!r}, {sorted(self._classes)})"


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"

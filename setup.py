"""Package discovery (the metadata is in pyproject.toml): every folder of ``optbench/`` with an
``__init__.py``, plus the problem zoo, which lives in ``problems/`` and installs as
``optbench.problems`` (the mapping is pyproject's ``[tool.setuptools.package-dir]``).
pyproject alone cannot combine discovery with that renamed folder."""
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
ZOO = ["optbench.problems"] + [f"optbench.problems.{p}" for p in find_packages(HERE / "problems")]

setup(packages=find_packages(HERE, include=["optbench", "optbench.*"]) + ZOO)

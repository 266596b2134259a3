"""Domain errors have one home: labeling/exceptions.py (STYLE.md rule 6)."""

import importlib
import pkgutil

import api
import labeling
from labeling.exceptions import DomainError


def _all_subclasses(cls: type) -> set[type]:
    return {sub for direct in cls.__subclasses__() for sub in {direct, *_all_subclasses(direct)}}


def test_no_module_but_labeling_exceptions_defines_a_domain_error():
    """Every module of the app is imported, then every DomainError subclass must come from labeling.exceptions."""
    for package in (labeling, api):
        for module in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            importlib.import_module(module.name)

    strays = sorted(
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _all_subclasses(DomainError)
        if cls.__module__.split(".")[0] in {"labeling", "api", "expertloop"} and cls.__module__ != "labeling.exceptions"
    )

    assert strays == [], f"Move these to labeling/exceptions.py: {strays}"

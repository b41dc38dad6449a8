"""Swap-in policies: a registry by name, plus third parties through the
``folio_replay.policies`` entry-point group (each entry point names a module
with NAME, SUMMARY and a ``decide`` compiled with ``replay.policies.base.policy``;
the built-in ones are C functions of the model, replay/mm/policies.c).
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points

from replay.errors import SettingsError
from replay.policies.base import VIEW_LEVELS

BUILTIN = {
    "order0-fallback": "replay.policies.order0_fallback",
    "mainline": "replay.policies.mainline",
    "full-zswap": "replay.policies.full_zswap",
    "hybrid-rejected": "replay.policies.hybrid_rejected",
    "locality-admitted": "replay.policies.locality_admitted",
    "hybrid-supported": "replay.policies.hybrid_supported",
}
DEFAULT_POLICIES = ("order0-fallback", "full-zswap", "hybrid-rejected", "locality-admitted",
                    "hybrid-supported")
ENTRY_POINT_GROUP = "folio_replay.policies"


@dataclass(frozen=True)
class Policy:
    name: str
    summary: str
    decide: object      # a replay.policies.base.PolicyFunction (its C function's address)
    origin: str         # "builtin" or the distribution that registered it
    view: str = "all"   # how much of the view it reads (replay.policies.base.VIEW_LEVELS)


def _from_module(module, origin: str) -> Policy:
    for attr in ("NAME", "SUMMARY", "decide"):
        if not hasattr(module, attr):
            raise SettingsError(f"policy module {module.__name__} has no {attr}")
    view = getattr(module, "VIEW", "all")
    if view not in VIEW_LEVELS:
        raise SettingsError(f"policy module {module.__name__}: VIEW {view!r} is not one of "
                            f"{', '.join(VIEW_LEVELS)}")
    return Policy(module.NAME, module.SUMMARY, module.decide, origin, view)


_FOUND: dict[tuple, dict[str, Policy]] = {}


def available() -> dict[str, Policy]:
    """Every policy by name: the built-in ones, then entry points (looked up once per
    module search path: scanning the installed distributions takes tens of ms)."""
    key = tuple(sys.path)
    if key not in _FOUND:
        _FOUND.clear()
        _FOUND[key] = _discover()
    return dict(_FOUND[key])


def _discover() -> dict[str, Policy]:
    found = {name: _from_module(importlib.import_module(mod), "builtin")
             for name, mod in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break the tool
            raise SettingsError(f"policy entry point {ep.name!r} failed to load: {e}") from None
        pol = _from_module(obj, ep.dist.name if ep.dist else "entry point")
        found.setdefault(pol.name, pol)
    return found


def get(name: str) -> Policy:
    pols = available()
    if name not in pols:
        raise SettingsError(f"unknown policy {name!r}; `replay policies` lists "
                            f"{', '.join(pols)}")
    return pols[name]

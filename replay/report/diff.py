"""What changed between two saved results documents: per counter, with percentages.

Results are paired by (trace, memory limit, policy). When no pair shares all three, the
memory limit is left out of the key, then the policy, as long as that pairs each result
with one other only: so two runs of one policy under different settings pair, and two
single-policy documents of different policies (two versions of a policy under two names)
pair too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from replay.report.document import replays_of
from replay.units import format_size

# sections of a result compared figure by figure ("run" is wall-clock time, "config" the
# settings, shown apart; "timeline" is per window and summed up by the others)
SECTIONS = ("counters", "per_size", "derived", "time", "tlb", "compression")
SKIP = {"run", "config", "timeline"}


def flatten(result: dict) -> dict[str, float]:
    """Every number of a result by its dotted path (``counters.zswpin``,
    ``per_size.64kB.swpin``, ``tlb.misses_per_1000.l1``); booleans as 0/1."""
    out: dict[str, float] = {}

    def walk(node, prefix: str) -> None:
        for k, v in node.items():
            path = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                if path not in ("tlb.config",):
                    walk(v, path)
            elif isinstance(v, bool):
                out[path] = int(v)
            elif isinstance(v, (int, float)) and v is not None:
                out[path] = v

    for section in SECTIONS:
        if isinstance(result.get(section), dict):
            walk(result[section], section)
    return out


@dataclass
class Change:
    key: str
    a: float | None
    b: float | None
    pct: float | None           # None: from 0, or only on one side
    moved: bool


@dataclass
class Pair:
    label_a: str
    label_b: str
    settings: list[tuple[str, object, object]]
    changes: list[Change]

    @property
    def label(self) -> str:
        return self.label_a if self.label_a == self.label_b else \
            f"{self.label_a} -> {self.label_b}"


@dataclass
class Diff:
    pairs: list[Pair]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    threshold_pct: float = 0.0

    @property
    def moved(self) -> bool:
        return bool(self.only_a or self.only_b) or any(
            c.moved for p in self.pairs for c in p.changes)


def _entries(doc: dict) -> list[tuple[tuple, str, dict]]:
    out = []
    for rp in replays_of(doc):
        for r in rp["results"]:
            limit = r["config"]["memory_limit_bytes"]
            out.append(((rp["trace_name"], limit, r["policy"]),
                        f"{rp['trace_name']} @ {format_size(limit)}: {r['policy']}", r))
    return out


def _pair(a: list, b: list) -> tuple[list[tuple], list, list]:
    """Pairs of entries, and the entries of each side left unpaired."""
    for keep in ((0, 1, 2), (0, 2), (0, 1), (0,), ()):
        def key(e, keep=keep):
            return tuple(e[0][i] for i in keep)
        ka, kb = Counter(key(e) for e in a), Counter(key(e) for e in b)
        if any(v > 1 for v in ka.values()) or any(v > 1 for v in kb.values()):
            continue                              # this key would pair one with several
        common = set(ka) & set(kb)
        if common:
            pairs = [(ea, next(eb for eb in b if key(eb) == key(ea)))
                     for ea in a if key(ea) in common]
            return pairs, [e for e in a if key(e) not in common], \
                [e for e in b if key(e) not in common]
    return [], a, b


def change_of(key: str, a, b, threshold_pct: float) -> Change | None:
    if a == b:
        return None
    if a is None or b is None or a == 0:
        return Change(key, a, b, None, True)
    pct = (b - a) / abs(a) * 100.0
    return Change(key, a, b, pct, abs(pct) > threshold_pct)


def diff_documents(doc_a: dict, doc_b: dict, threshold_pct: float = 0.0,
                   include_unchanged: bool = False) -> Diff:
    pairs, only_a, only_b = _pair(_entries(doc_a), _entries(doc_b))
    out = Diff([], [e[1] for e in only_a], [e[1] for e in only_b], threshold_pct)
    for (_, label_a, ra), (_, label_b, rb) in pairs:
        fa, fb = flatten(ra), flatten(rb)
        changes = []
        for key in list(fa) + [k for k in fb if k not in fa]:
            c = change_of(key, fa.get(key), fb.get(key), threshold_pct)
            if c is not None:
                changes.append(c)
            elif include_unchanged:
                changes.append(Change(key, fa.get(key), fb.get(key), 0.0, False))
        ca, cb = ra.get("config", {}), rb.get("config", {})
        settings = [(k, ca.get(k), cb.get(k)) for k in list(ca) + [k for k in cb if k not in ca]
                    if ca.get(k) != cb.get(k)]
        out.pairs.append(Pair(label_a, label_b, settings, changes))
    return out


def parse_threshold(text: str) -> float:
    """'5', '5%' or '0.5%': percent, at least 0."""
    from replay.errors import SettingsError
    t = str(text).strip().rstrip("%").strip()
    try:
        v = float(t)
    except ValueError:
        raise SettingsError(f"--threshold {text!r} is not a percent like 5%") from None
    if not v >= 0 or v == float("inf"):
        raise SettingsError(f"--threshold {text!r} must be 0% or more")
    return v

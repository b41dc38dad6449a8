"""Notes under a replay's table: what a reader must know to trust (or not) the figures."""

from __future__ import annotations

from replay.report.tables import BASELINE, killed
from replay.units import format_size

# the figures two policies must share to be "the same" (run times differ run to run)
_SAME_SECTIONS = ("counters", "per_size", "derived", "time", "tlb")


def oom_advice(cfg: dict) -> str:
    """The settings that change an OOM kill, for these settings."""
    options = []
    if cfg.get("memcg") == "v2":
        if not cfg.get("zswap_shrinker"):
            options.append("--zswap-shrinker (memcg reclaim writes the pool back)")
        options.append("--zswap-max")
    options += ["a larger --memory-limit", "--swap-size"]
    return f"See {', '.join(options)}, or --oom continue to replay on."


def every_policy_killed(replay: dict) -> bool:
    results = replay["results"]
    return bool(results) and all(killed(r) for r in results)


def _same(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in _SAME_SECTIONS)


def replay_notes(replay: dict, known_policies: list[str] | None = None) -> list[str]:
    """``known_policies``: every policy that could have been compared (to say which is
    missing)."""
    results = replay["results"]
    if not results:
        return []
    notes: list[str] = []
    accesses = replay["trace"]["accesses"]
    cfg = results[0]["config"]
    dead = [r for r in results if killed(r)]
    if dead and len(dead) == len(results):
        at = sorted({r["derived"]["accesses"] for r in dead})
        where = f"at access {at[0]:,}" if len(at) == 1 else \
            f"between accesses {at[0]:,} and {at[-1]:,}"
        notes.append(f"Every policy was OOM-killed ({where} of {accesses:,}): the memcg could "
                     "not make room" + (" (on cgroup v2 its own zswap pool is charged to it)"
                                        if cfg["memcg"] == "v2" else "")
                     + ". Nothing here compares the policies. " + oom_advice(cfg))
    elif dead:
        names = ", ".join(f"{r['policy']} (at access {r['derived']['accesses']:,})"
                          for r in dead)
        notes.append(f"OOM killed: {names} of {accesses:,}; those figures stop at the kill "
                     "and are never marked best. " + oom_advice(cfg))
    if not dead and all(r["counters"].get("pgscan", 0) == 0 for r in results):
        fp = (replay.get("footprint") or {}).get("footprint_bytes")
        size = format_size(replay["memory_limit"]["bytes"])
        notes.append(f"Nothing is reclaimed: the memory limit {size} holds everything the "
                     "trace touches" + (f" (footprint {format_size(fp)})" if fp else "")
                     + ", so no policy swaps in and they all give the same figures. Give a "
                     "lower --memory-limit, e.g. 50%.")
    # policies with exactly the figures of an earlier one
    groups: list[list[dict]] = []
    for r in results:
        for g in groups:
            if _same(g[0], r):
                g.append(r)
                break
        else:
            groups.append([r])
    for g in groups:
        if len(g) > 1 and not (len(g) == len(results) and notes):
            notes.append(f"Same figures: {', '.join(r['policy'] for r in g[1:])} as "
                         f"{g[0]['policy']}.")
    names = [r["policy"] for r in results]
    mainline = next((r for r in results if r["policy"] == "mainline"), None)
    base = next((r for r in results if r["policy"] == BASELINE), None)
    if mainline and base and _same(mainline, base) and cfg.get("zswap_ever_enabled", True) \
            and not (dead and len(dead) == len(results)):
        notes.append("mainline swaps in order 0 here, as order0-fallback: zswap was enabled "
                     "(v6.18 swaps in large folios only from zram while zswap was never "
                     "enabled; see --zswap-never-enabled with --backend zram).")
    if known_policies and "mainline" in known_policies and "mainline" not in names:
        notes.append("mainline (v6.18 as it is) is not in this comparison; --policy all "
                     "adds it.")
    fp = replay.get("footprint") or {}
    coverage = fp.get("content_coverage")
    if coverage is not None and coverage < 1.0:
        ratio = _ratio(results[0])
        what = "no page contents" if coverage == 0 else \
            f"no page contents for {1 - coverage:.0%} of its pages"
        notes.append(f"{replay['trace_name']} has {what}: those pages are assumed to "
                     "compress like the 'mixed' class (a heap of pointers, small integers "
                     "and strings)" + (f"; {cfg['compressor']} compresses the trace's pages "
                                       f"{ratio:.1f}:1" if ratio else "")
                     + ". A contents sidecar (docs/trace-format.md) gives the real ones.")
    return notes


def _ratio(result: dict) -> float | None:
    comp = result.get("compression") or {}
    per_page = comp.get("per_page") or {}
    pages, stored = comp.get("pages"), per_page.get("stored_bytes")
    if pages and stored:
        return pages * 4096 / stored
    return None

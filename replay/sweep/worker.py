"""What a worker does with a sweep task: replay its policies, and flatten each result into
the figures of a table row.

A result's figures become columns named by where they are in the result (the keys the
report's tables use): ``counters.pgmajfault``, ``per_size.64kB.swpin``,
``derived.swapin_amplification``, ``time.swapin_ns``, ``time.swapin_folios.64kB``,
``tlb.misses_per_1000.l1``, ``compression.per_page.stored_bytes``, ``run.engine_seconds``.
Only numbers and true/false are kept (the timeline, and text such as the cost model's
name, are not figures; the settings columns say what produced them).
"""

from __future__ import annotations

from pathlib import Path

SECTIONS = ("counters", "per_size", "derived", "time", "tlb", "compression", "run")


def _leaves(prefix: str, node, out: dict) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            _leaves(f"{prefix}.{k}", v, out)
    elif isinstance(node, bool):
        out[prefix] = node
    elif isinstance(node, (int, float)):
        out[prefix] = node


def figures_of(result: dict) -> dict:
    """Every figure of one simulate() result, flat, by its dotted place in the result."""
    out: dict = {}
    for section in SECTIONS:
        node = result.get(section)
        if section == "tlb" and isinstance(node, dict):
            node = {k: v for k, v in node.items() if k != "config"}
        if node is not None:
            _leaves(section, node, out)
    return out


def _changed(task, trace_path: Path) -> str | None:
    """Why the trace at its planned path is not the one the sweep planned (its runs' keys
    are of that one), or None. A trace sent to the worker is the planned one."""
    if str(trace_path) != task.trace_path or task.trace_stat is None:
        return None
    try:
        st = Path(trace_path).stat()
    except OSError as e:
        return f"{trace_path}: unreadable on this worker ({e.strerror})"
    if (st.st_size, st.st_mtime_ns) != tuple(task.trace_stat):
        return (f"{trace_path}: changed since the sweep read it (size or modification "
                "time): rerun the sweep to replay the new trace")
    return None


def replay_task(task, trace_path: Path, report) -> list[tuple[str, dict | None, str | None]]:
    """(policy, figures, error) per policy of the task. The policies are replayed in
    lockstep; when that fails, each is replayed alone, so that an error is the run's own
    (a plug-in policy that fails does not take the others' rows with it)."""
    from replay.engine import simulate
    from replay.study.executor import one_line_error
    report(0)
    changed = _changed(task, trace_path)
    if changed:
        return [(p, None, changed) for p in task.policies]

    def replay(policies):
        return simulate(str(trace_path), task.config, list(policies), progress=report,
                        threads=1, chunk_rows=task.chunk_rows, **task.sim_options)

    try:
        results = replay(task.policies)
    except Exception as e:  # noqa: BLE001 - a run's error is its row
        if len(task.policies) == 1:
            return [(task.policies[0], None, one_line_error(e))]
    else:
        return [(r["policy"], figures_of(r), None) for r in results]
    out = []
    for p in task.policies:
        try:
            (r,) = replay([p])
        except Exception as e:  # noqa: BLE001
            out.append((p, None, one_line_error(e)))
        else:
            out.append((p, figures_of(r), None))
    return out

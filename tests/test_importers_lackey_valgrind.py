"""A lackey trace recorded here, from a real program, imports access for access."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from replay.importers import run_import
from replay.trace import open_trace

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    char *p = malloc(64 * 4096);
    for (int i = 0; i < 64; i++) p[i * 4096] = 1;             /* 64 stores, one a page */
    long s = 0;
    for (int i = 0; i < 64; i++) s += ((volatile char *)p)[i * 4096 + 8];
    printf("%p %ld\n", (void *)p, s);
    return 0;
}
"""

pytestmark = pytest.mark.skipif(not (shutil.which("cc") and shutil.which("valgrind")),
                                reason="needs cc and valgrind")


def _record(tmp: Path) -> tuple[Path, int]:
    (tmp / "touch.c").write_text(PROGRAM)
    for flags in (["-static"], []):          # static: a shorter trace (no ld.so start-up)
        built = subprocess.run(["cc", "-O1", *flags, "-o", str(tmp / "touch"),
                                str(tmp / "touch.c")], capture_output=True, timeout=120,
                               check=False)
        if built.returncode == 0:
            break
    else:
        pytest.skip("cc cannot build the test program")
    trace = tmp / "touch.lackey"
    run = subprocess.run(["valgrind", "--tool=lackey", "--trace-mem=yes",
                          f"--log-file={trace}", str(tmp / "touch")],
                         capture_output=True, text=True, timeout=300, check=False)
    if run.returncode != 0:
        pytest.skip(f"valgrind failed: {run.stderr.strip()[:200]}")
    return trace, int(run.stdout.split()[0], 16)


def test_lackey_recording_of_a_real_program_round_trips(tmp_path):
    trace, heap = _record(tmp_path)
    out = tmp_path / "touch.parquet"
    run_import("lackey", trace, out, {})
    t = open_trace(out)
    chunks = list(t.iter_chunks())
    vpn = np.concatenate([c.vpn for c in chunks])
    op = np.concatenate([c.op for c in chunks])
    # an independent reading of the L/S/M lines (each access's pages, both if it crosses)
    exp_vpn, exp_op = [], []
    data_lines = 0
    for line in trace.read_text(errors="replace").splitlines():
        m = re.fullmatch(r" ([LSM]) ([0-9a-f]+),(\d+)", line)
        if m:
            data_lines += 1
            a, n = int(m.group(2), 16), int(m.group(3))
            pages = range(a >> 12, ((a + max(n, 1) - 1) >> 12) + 1)
            exp_vpn.extend(pages)
            exp_op.extend([0 if m.group(1) == "L" else 1] * len(pages))
    assert data_lines > 1000
    assert t.num_accesses == len(exp_vpn) >= data_lines
    assert vpn.tolist() == exp_vpn
    assert op.tolist() == exp_op
    # the program's 64 stores, one per page of its buffer, are writes of those pages
    first = heap >> 12
    written = set(vpn[op == 1].tolist())
    assert all(first + i in written for i in range(64))
    assert t.meta.command.endswith("touch")

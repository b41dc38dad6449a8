"""`replay record --method lackey`: a real program under valgrind, its every access, and the
contents of its pages read from the valgrind process (no root, no kernel setting)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from replay.cli import main
from replay.trace import open_trace

PROGRAM = r"""
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    unsigned char *p = mmap(0, 64 * 4096, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (int i = 0; i < 64; i++) p[i * 4096] = 1 + i;        /* 64 stores, one a page */
    usleep(600000);                                          /* contents are read meanwhile */
    long s = 0;
    for (int i = 0; i < 64; i++) s += ((volatile unsigned char *)p)[i * 4096 + 8];
    FILE *f = fopen(argv[1], "w");
    fprintf(f, "%p\n", (void *)p);
    fclose(f);
    return 3;
}
"""

pytestmark = pytest.mark.skipif(not (shutil.which("cc") and shutil.which("valgrind")),
                                reason="needs cc and valgrind")


def test_lackey_records_every_access_with_contents_and_regions(tmp_path, capsys):
    (tmp_path / "touch.c").write_text(PROGRAM)
    built = subprocess.run(["cc", "-O1", "-o", str(tmp_path / "touch"),
                            str(tmp_path / "touch.c")], capture_output=True, timeout=120,
                           check=False)
    if built.returncode != 0:
        pytest.skip("cc cannot build the test program")
    out = tmp_path / "touch.parquet"
    addr = tmp_path / "addr"
    code = main(["record", "--method", "lackey", "--interval", "100", "--no-progress",
                 "-o", str(out), "--", str(tmp_path / "touch"), str(addr)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "the program exited with code 3" in err
    assert main(["info", str(out)]) == 0
    t = open_trace(out).check()
    first = int(addr.read_text(), 16) >> 12
    chunks = list(t.iter_chunks())
    vpn = np.concatenate([c.vpn for c in chunks])
    op = np.concatenate([c.op for c in chunks])
    mine = (vpn >= first) & (vpn < first + 64)
    # exact: one store and one load per page of the buffer, in that order
    assert (vpn[mine] - first).tolist() == list(range(64)) * 2
    assert op[mine].tolist() == [1] * 64 + [0] * 64
    m = t.meta
    assert not m.sampled and m.time_source == "ordinal" and m.extra["method"] == "lackey"
    assert m.extra["exit_code"] == 3 and m.command.endswith(f"touch {addr}")
    assert "valgrind" in m.recorder
    r = t.regions()
    assert ((r.column("start_vpn").to_numpy() <= first)
            & (r.column("end_vpn").to_numpy() >= first + 64)).any()
    c = t.contents()
    got = {v: d for v, ver, d in zip(c.column("vpn").to_pylist(), c.column("version").to_pylist(),
                                     c.column("data").to_pylist()) if ver == 0}
    assert all(got.get(first + i) is not None and got[first + i][0] == 1 + i
               for i in range(64))
    assert not list(Path(tmp_path).glob("folio-replay-record-*"))     # the log is gone

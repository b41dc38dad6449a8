#!/bin/sh
# Re-record the bundled traces recorded with `replay record` (root; see traces/README.md).
#   sudo sh traces/recipes/record.sh OUTDIR
# Programs: xz, sqlite3, python3.11, gcc and perl from Debian 12, node from nodesource.
# Inputs: the Python 3.11 standard library sources of Debian's python3.11 package
# (PSF-2.0) and fontTools 4.69.1's Cython-generated cu2qu.c (MIT; in its wheel).
set -eu
out=${1:?usage: record.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out/inputs"
cd "$out/inputs"
if [ ! -f pystdlib.tar ]; then
  (cd /usr/lib/python3.11 && find . -name '*.py' -not -path '*/test/*' | LC_ALL=C sort \
     | tar cf "$out/inputs/pystdlib.tar" -T -)
fi
if [ ! -f lines.csv ]; then
  /usr/bin/python3 - <<'PY'
import csv, tarfile
tf = tarfile.open("pystdlib.tar")
with open("lines.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["file", "lineno", "text"])
    n = 0                                  # the first 150,000 lines
    for m in tf:
        if m.isfile():
            text = tf.extractfile(m).read().decode("utf-8", "replace")
            for i, line in enumerate(text.splitlines()):
                if n == 150_000:
                    break
                w.writerow([m.name, i + 1, line])
                n += 1
PY
fi
if [ ! -f cu2qu.c ]; then
  python3 -m pip download -q --no-deps --only-binary :all: --python-version 3.11 \
      --platform manylinux2014_x86_64 fonttools==4.69.1 -d wheel
  python3 -m zipfile -e wheel/fonttools-4.69.1-*.whl wheel/x
  cp wheel/x/fontTools/cu2qu/cu2qu.c cu2qu.c
fi
rec() { name=$1; shift; replay record -o "$out/$name.parquet" --content-versions first --no-progress "$@"; }
rec xz --licence "CC0-1.0 (trace); page contents hold the input, Python 3.11 standard library sources (PSF-2.0)" \
  --description "xz 5.4.1 -4 (4 MiB dictionary, BT4 match finder) compressing an 11 MiB tar of the Python 3.11 standard library sources, one thread" \
  -- xz -4 -T1 -c pystdlib.tar > /dev/null
rec sqlite --licence "CC0-1.0 (trace); page contents hold the input, Python 3.11 standard library sources (PSF-2.0)" \
  --description "sqlite3 3.40.1, in-memory database: imports the first 150k lines of the Python 3.11 standard library sources as a table, indexes them twice, groups, self-joins, updates, 200k random row lookups, deletes" \
  -- sqlite3 -batch :memory: ".read $here/sqlite.sql" > /dev/null
rec pyindex --licence "CC0-1.0 (trace); page contents hold the input, Python 3.11 standard library sources (PSF-2.0)" \
  --description "CPython 3.11.2 building an inverted index (word -> file, line) of the Python 3.11 standard library sources, 300k Zipf-skewed lookups with 5% appends, then a full scan" \
  -- /usr/bin/python3 "$here/pyindex.py" pystdlib.tar > /dev/null
rec gcc --licence "CC0-1.0 (trace); page contents hold the input, fontTools 4.69.1 cu2qu.c (MIT)" \
  --description "gcc 12.2 -O2 compiling fontTools 4.69.1's Cython-generated cu2qu.c (790 KB) to assembly: the driver and cc1" \
  -- gcc -O2 -fPIC -I/usr/include/python3.11 -S cu2qu.c -o /dev/null
rec plindex --licence "CC0-1.0 (trace); page contents hold the input, Python 3.11 standard library sources (PSF-2.0)" \
  --description "Perl 5.36 building a word -> line numbers index of the first 150k lines of the Python 3.11 standard library sources, 300k Zipf-skewed lookups with 5% appends, a sort of the lines by text, a pass over every posting" \
  -- perl "$here/plindex.pl" lines.csv > /dev/null
rec jsindex --licence "CC0-1.0 (trace); page contents hold the input, Python 3.11 standard library sources (PSF-2.0)" \
  --description "Node.js 20.20 (V8) turning the first 100k lines of the Python 3.11 standard library sources into objects, an index word -> rows, four rounds of 300k Zipf-skewed lookups, a JSON round trip of a third of the rows and a sort: a garbage-collected heap" \
  -- node "$here/jsindex.js" lines.csv 100000 > /dev/null

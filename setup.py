"""Build of the compiled parts as CPython extensions: the kernel model (replay/mm/*.c) and
the loops of trace reading and importing (replay/scan/*.c).

Everything else is in pyproject.toml. The extensions are C11, built with the
system C compiler when the package is installed (`pip install .` or `-e .`):
nothing is compiled at run time.
"""

from __future__ import annotations

import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
CFLAGS = ["-std=c11", "-O2", "-fno-strict-aliasing", "-Wall", "-Wextra",
          "-Wno-unused-parameter", "-Wno-missing-field-initializers"]


def sources(folder: str) -> list[str]:
    return sorted(str(p.relative_to(HERE)) for p in (HERE / folder).glob("*.c"))


EXTENSIONS = [
    Extension("replay._mm", sources=sources("replay/mm"),
              depends=[str(p.relative_to(HERE)) for p in (HERE / "replay/mm").glob("*.h")],
              extra_compile_args=CFLAGS),
    # the loops of trace reading and importing (replay.dense_ids, replay.importers)
    Extension("replay._scan", sources=sources("replay/scan"),
              depends=[str(p.relative_to(HERE)) for p in (HERE / "replay/scan").glob("*.h")],
              extra_compile_args=CFLAGS),
]


class BuildExt(build_ext):
    """build_ext that says plainly what is missing when no C compiler (or no Python
    headers) can be found, instead of a compiler traceback."""

    def build_extensions(self) -> None:
        import shutil
        cc = self.compiler.compiler_so[0] if getattr(self.compiler, "compiler_so", None) else "cc"
        if shutil.which(cc) is None:
            sys.exit("folio-replay: building the kernel model and trace scanners needs a C "
                     f"compiler: `{cc}` was not found. Install one (Debian/Ubuntu: apt install "
                     "gcc python3-dev; Fedora: dnf install gcc python3-devel) or set CC, then "
                     "install again.")
        print(f"folio-replay: compiling the kernel model and trace scanners with {cc} (C11)",
              file=sys.stderr)
        super().build_extensions()


setup(ext_modules=EXTENSIONS, cmdclass={"build_ext": BuildExt})

"""Kernel-touching code: `replay validate` against the live kernel.

Everything that reads or writes /sys, /proc, cgroups, swap devices or runs
the native replayer lives here, and nothing in the model, the engine or the
reports imports it (the dependency goes one way: this package may import
the engine to compare). Every path comes from one ``KernelPaths`` root and
every external command goes through one ``CommandRunner``, so the whole
save-and-restore logic runs against a fake root in unit tests.
"""

from replay.live.paths import KernelPaths
from replay.live.runner import CommandRunner, LiveError

__all__ = ["CommandRunner", "KernelPaths", "LiveError"]

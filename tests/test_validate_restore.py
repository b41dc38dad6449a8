"""`replay validate` against a fake kernel root: every setting comes back, whatever fails.

The live code takes every path from one KernelPaths root and changes the
machine only through one CommandRunner; here the root is a temporary folder
laid out like /proc, /sys and /dev, and a FakeRunner emulates the kernel's
side effects (swapon adds to /proc/swaps, zram reset zeroes disksize, a
cgroup mkdir creates control files, ...) and fails on request. The real
native replayer runs against the fake files (its memcg join and memory.stat
reads go to regular files), so the whole run path is exercised without
touching the machine's settings.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

from replay.cli import main
from replay.costs.sizes import page_compressed_sizes
from replay.errors import SettingsError
from replay.gen import generate_to
from replay.live.native import ZERO_CONTENT, build_replayer, export_replay_file, read_replay_file
from replay.live.paths import KernelPaths
from replay.live.probe import check_comparable, damon_at_work, mainline_policy, probe_kernel
from replay.live.runner import CommandRunner, LiveError, Refused
from replay.live.session import Interrupted, KernelSession, RestoreError, read_setting, recover
from replay.live.validate import (
    ValidateSettings,
    compare,
    relative_error,
    run_kernel,
    run_validation,
    summarize_runs,
    write_json_atomic,
)
from replay.trace import OP_PAGEOUT, OP_READ, OP_WRITE, TraceMeta, open_trace, write_trace

SIZES_KB = (16, 32, 64, 128, 256, 512, 1024, 2048)
BOOT_DMESG = ("[    0.000000] Linux version 6.18.44 (builder@sandboxing)\n"
              "[    0.000000] Command line: console=ttyS0\n")
VMSTAT = ("pgfault", "pgmajfault", "pswpin", "pswpout", "zswpin", "zswpout", "zswpwb",
          "swpin_zero", "swpout_zero", "thp_swpout", "workingset_refault_anon",
          "pgscan_anon", "pgscan_file", "pgsteal_anon", "pgsteal_file", "pgactivate")


# ---------------------------------------------------------------- the fake kernel


def make_root(root: Path, *, zswap_enabled: str = "N", page_cluster: str = "3",
              lru_gen: str | None = None, memcg_v1: bool = True) -> KernelPaths:
    def put(rel: str, text: str) -> None:
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    put("proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n")
    # zswap's counters 0: they count since boot, and any of them says zswap was enabled
    put("proc/vmstat", "".join(f"{n} {0 if n.startswith('zswp') else i * 10}\n"
                               for i, n in enumerate(VMSTAT)))
    put("proc/meminfo", "MemTotal:       24683656 kB\nMemFree:        23689716 kB\n")
    put("proc/sys/vm/page-cluster", page_cluster + "\n")
    put("proc/sys/kernel/osrelease", "6.18.44-fake\n")
    thp = "sys/kernel/mm/transparent_hugepage"
    put(f"{thp}/enabled", "always [madvise] never\n")
    put(f"{thp}/defrag", "always defer defer+madvise [madvise] never\n")
    for s in SIZES_KB:
        put(f"{thp}/hugepages-{s}kB/enabled",
            "always [inherit] madvise never\n" if s == 2048 else
            "always inherit madvise [never]\n")
        for stat in ("anon_fault_alloc", "anon_fault_fallback", "swpin", "swpout", "nr_anon"):
            put(f"{thp}/hugepages-{s}kB/stats/{stat}", "5\n")
    put(f"{thp}/hugepages-8kB/shmem_enabled", "never\n")      # no anon order 1
    if lru_gen is not None:
        put("sys/kernel/mm/lru_gen/enabled", lru_gen + "\n")
    put("sys/block/zram0/comp_algorithm", "[lzo-rle] lzo lz4 \n")
    put("sys/block/zram0/disksize", "0\n")
    put("sys/block/zram0/reset", "")
    put("sys/block/zram0/mm_stat", "0 0 0 0 0 0 0 0 0\n")
    put("sys/block/zram0/queue/rotational", "0\n")
    put("dev/zram0", "")
    zs = "sys/module/zswap/parameters"
    for name, value in (("enabled", zswap_enabled), ("compressor", "lzo"),
                        ("max_pool_percent", "20"), ("accept_threshold_percent", "90"),
                        ("shrinker_enabled", "N")):
        put(f"{zs}/{name}", value + "\n")
    if memcg_v1:
        for name, value in (("memory.limit_in_bytes", "9223372036854771712"),
                            ("cgroup.procs", ""), ("memory.stat", "pgfault 1\n")):
            put(f"sys/fs/cgroup/memory/{name}", value)
    else:
        put("sys/fs/cgroup/cgroup.controllers", "cpu io memory pids\n")
    (root / "var/tmp").mkdir(parents=True)
    (root / "run").mkdir(parents=True)
    return KernelPaths(root)


class FakeRunner(CommandRunner):
    """Emulates the kernel's side effects on a fake root; fails on request.

    ``fail`` maps a step name ("swapon", "mkswap", "mkdir", "rmdir", "losetup",
    "write:<file name>") to how many times it fails; ``hooks`` maps a step to
    a callable run before it (e.g. sending ourselves SIGTERM).
    """

    def __init__(self, paths: KernelPaths, *, dmesg: str = BOOT_DMESG) -> None:
        self.paths = paths
        self.dmesg = dmesg
        self.fail: dict[str, int] = {}
        self.hooks: dict[str, object] = {}
        self.writes: list[tuple[str, str]] = []
        self.commands: list[list[str]] = []
        self.loops: dict[str, str] = {}

    def _step(self, name: str) -> None:
        hook = self.hooks.get(name)
        if hook:
            hook()
        if self.fail.get(name, 0) > 0:
            self.fail[name] -= 1
            raise LiveError(f"{name} failed (injected)")

    def _rel(self, p) -> str:
        return str(Path(p).relative_to(self.paths.root))

    def _swaps(self) -> Path:
        return self.paths.proc_swaps

    def run(self, argv, *, timeout_s: float = 120.0, check: bool = True) -> str:
        args = [os.fspath(a) for a in argv]
        cmd = args[0]
        if cmd not in ("mkswap", "swapon", "swapoff", "losetup", "dmesg"):
            return super().run(args, timeout_s=timeout_s, check=check)   # cc
        self.commands.append(args)
        self._step(cmd)
        if cmd == "dmesg":
            return self.dmesg
        if cmd == "mkswap":
            assert Path(args[1]).exists()
            return ""
        if cmd == "swapon":
            with open(self._swaps(), "a") as f:
                f.write(f"{args[1]}\tpartition\t1048572\t0\t-2\n")
            return ""
        if cmd == "swapoff":
            lines = self._swaps().read_text().splitlines(keepends=True)
            rest = [ln for ln in lines[1:] if ln.split()[0] != args[1]]
            if len(rest) == len(lines) - 1:
                raise LiveError(f"swapoff {args[1]}: not a swap device")
            self._swaps().write_text(lines[0] + "".join(rest))
            return ""
        # losetup
        if args[1] == "--find":
            dev = self.paths.dev(f"loop{len(self.loops)}")
            dev.write_text("")
            q = self.paths.sys_block(dev.name) / "queue"
            q.mkdir(parents=True, exist_ok=True)
            (q / "rotational").write_text("1\n")
            self.loops[str(dev)] = args[3]
            return f"{dev}\n"
        if args[1] == "-j":
            return "".join(f"{d}: []: ({f})\n" for d, f in self.loops.items() if f == args[2])
        if args[1] == "-d":
            self.loops.pop(args[2])
            return ""
        raise AssertionError(args)

    def write(self, path: Path, value: str) -> None:
        path = Path(path)
        self._step(f"write:{path.name}")
        if path.parent.name.startswith("hugepages-"):
            self._step(f"write:{path.parent.name}/{path.name}")
        self.writes.append((self._rel(path), value))
        if path.name == "reset":
            if any(ln.split()[0] == str(self.paths.dev(path.parent.name))
                   for ln in self._swaps().read_text().splitlines()[1:]):
                raise LiveError(f"{path}: cannot write '1' (Device or resource busy)")
            (path.parent / "disksize").write_text("0\n")
            return
        if path.name == "comp_algorithm" and \
                read_setting(path.parent / "disksize") != "0":
            raise LiveError(f"{path}: cannot write {value!r} (Device or resource busy)")
        if path.name == "cgroup.procs":
            raise AssertionError("validate never writes cgroup.procs itself")
        text = path.read_text() if path.exists() else ""
        words = [w.strip("[]") for w in text.split()]
        if "[" in text and value in words:       # a choice file: move the brackets
            path.write_text(" ".join(f"[{w}]" if w == value else w for w in words) + "\n")
        else:
            path.write_text(value + "\n")

    def mkdir(self, path: Path) -> None:
        self._step("mkdir")
        os.mkdir(path)
        for name, value in (("memory.limit_in_bytes", "9223372036854771712\n"),
                            ("memory.memsw.limit_in_bytes", "9223372036854771712\n"),
                            ("memory.swappiness", "60\n"), ("cgroup.procs", ""),
                            ("memory.stat", ("pgfault 0\npgmajfault 0\n"
                                            "workingset_refault_anon 0\n")),
                            ("memory.oom_control", ("oom_kill_disable 0\nunder_oom 0\n"
                                                   "oom_kill 0\n")),
                            ("memory.max_usage_in_bytes", "0\n"), ("memory.failcnt", "0\n")):
            (path / name).write_text(value)

    def rmdir(self, path: Path) -> None:
        self._step("rmdir")
        if (path / "cgroup.procs").read_text().split():
            raise LiveError(f"{path}: cannot remove (Device or resource busy)")
        shutil.rmtree(path)

    def kill(self, pid: int, sig: int) -> None:
        # the kernel drops a dead process from cgroup.procs; the fake drops the pid without
        # signalling it (the replayer child is killed and reaped by ReplayerProcess itself)
        for group in self.paths.memcg_v1.glob("folio-replay-*"):
            procs = group / "cgroup.procs"
            left = [p for p in procs.read_text().split() if int(p) != pid]
            procs.write_text("".join(f"{p}\n" for p in left))


def machine_state(paths: KernelPaths) -> dict:
    """Everything validate may change, read from the (fake) root."""
    thp = {s: read_setting(paths.mthp(s) / "enabled") for s in paths.mthp_sizes_kb()}
    return {
        "swaps": paths.proc_swaps.read_text().splitlines()[1:],
        "zram_disksize": read_setting(paths.zram(0) / "disksize"),
        "zram_algorithm": read_setting(paths.zram(0) / "comp_algorithm"),
        "thp": thp,
        "page_cluster": read_setting(paths.page_cluster),
        "zswap": {p.name: read_setting(p) for p in sorted(paths.zswap_params.iterdir())},
        "memcgs": sorted(p.name for p in paths.memcg_v1.iterdir() if p.is_dir())
        if paths.memcg_v1.is_dir() else [],
        "loop_files": sorted(p.name for p in paths.swapfile_dir.iterdir()),
        "journal": sorted(p.name for p in paths.journal_dir.iterdir())
        if paths.journal_dir.is_dir() else [],
    }


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def replayer_cache(tmp_path_factory) -> Path:
    cache = tmp_path_factory.mktemp("replayer-cache")
    build_replayer(cache=cache)
    return cache


@pytest.fixture(scope="module")
def small_trace(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("traces") / "small.parquet"
    generate_to(out, "random", accesses=3000, pages=700, seed=3,
                content="random=0.5,zero=0.5")
    return out


@pytest.fixture
def fake(tmp_path) -> tuple[KernelPaths, FakeRunner]:
    paths = make_root(tmp_path / "root")
    return paths, FakeRunner(paths)


def settings(**kw) -> ValidateSettings:
    base = {"runs": 1, "timeout_s": 60, "model": False, "swap_bytes": 16 << 20}
    base.update(kw)
    return ValidateSettings(**base)


# ---------------------------------------------------------------- whole runs


def test_a_full_run_on_a_fake_root_restores_every_setting(fake, small_trace, replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    report = run_kernel(small_trace, settings(runs=2, page_cluster=0, verify=True),
                        paths=paths, runner=runner, cache=replayer_cache)
    assert machine_state(paths) == before
    assert len(report["runs"]) == 2
    run = report["runs"][0]
    assert run["run"]["replayer"]["records"] == 3000
    assert run["run"]["replayer"]["first_touches"] > 0
    assert run["run"]["replayer"]["verify"] is True
    assert run["run"]["replayer"]["verify_mismatches"] == 0
    assert set(run["per_size"]) == {"64kB"}
    assert "pswpin" in run["counters"] and "pgmajfault" in run["counters"]
    # what was set during the run, and what was written back
    assert ("proc/sys/vm/page-cluster", "0") in runner.writes
    assert ("proc/sys/vm/page-cluster", "3") in runner.writes
    thp = "sys/kernel/mm/transparent_hugepage"
    assert (f"{thp}/hugepages-64kB/enabled", "madvise") in runner.writes
    assert (f"{thp}/hugepages-2048kB/enabled", "never") in runner.writes
    assert (f"{thp}/hugepages-2048kB/enabled", "inherit") in runner.writes
    # one zram setup and teardown per run
    assert [c[0] for c in runner.commands].count("swapon") == 2
    assert [c[0] for c in runner.commands].count("swapoff") == 2
    assert report["model_config"].rotational is False
    assert report["model_config"].first_read == "allocate"
    assert report["model_config"].memcg == "v1"


@pytest.mark.parametrize("step", [
    "write:hugepages-64kB/enabled", "write:page-cluster", "write:comp_algorithm",
    "write:disksize", "mkswap", "swapon", "mkdir", "write:memory.limit_in_bytes",
    "write:memory.swappiness",
])
def test_a_failing_setup_step_leaves_the_machine_as_it_was(fake, small_trace, replayer_cache,
                                                            step):
    paths, runner = fake
    before = machine_state(paths)
    runner.fail[step] = 1
    with pytest.raises(LiveError, match="injected"):
        run_kernel(small_trace, settings(page_cluster=0), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert machine_state(paths) == before


def test_a_replayer_that_dies_is_reported_and_everything_restored(fake, small_trace, tmp_path):
    paths, runner = fake
    before = machine_state(paths)
    cache = tmp_path / "cache"
    binary = build_replayer(cache=cache)
    binary.write_text("#!/bin/sh\necho 'replayer: error: simulated crash' >&2\nexit 3\n")
    with pytest.raises(LiveError, match="simulated crash"):
        run_kernel(small_trace, settings(), paths=paths, runner=runner, cache=cache)
    assert machine_state(paths) == before


def test_a_replayer_that_hangs_is_killed_at_the_timeout(fake, small_trace, tmp_path):
    paths, runner = fake
    before = machine_state(paths)
    cache = tmp_path / "cache"
    binary = build_replayer(cache=cache)
    binary.write_text("#!/bin/sh\nexec sleep 30\n")
    with pytest.raises(LiveError, match="did not report 'ready' in time"):
        run_kernel(small_trace, settings(timeout_s=0.5), paths=paths, runner=runner,
                   cache=cache)
    assert machine_state(paths) == before


def test_a_failing_restore_step_does_not_stop_the_others_and_recover_finishes(
        fake, small_trace, replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    runner.fail["swapoff"] = 2             # the run's restore and the session's retry
    with pytest.raises(RestoreError, match="swapoff") as err:
        run_kernel(small_trace, settings(page_cluster=0), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert "--recover" in str(err.value)
    left = machine_state(paths)
    # what could be restored was: sizes, page-cluster, the memcg
    assert left["thp"] == before["thp"]
    assert left["page_cluster"] == before["page_cluster"]
    assert left["memcgs"] == before["memcgs"]
    # zram is still swap (reset is refused while it is), and the journal says so
    assert left["swaps"] and left["zram_disksize"] != "0"
    journal = json.loads((paths.journal_dir / "validate.json").read_text())
    assert {r["kind"] for r in journal["undo"]} >= {"swapoff", "zram_reset"}
    # a new validation refuses to start on top of that
    with pytest.raises(Refused, match="--recover"):
        run_kernel(small_trace, settings(), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert recover(paths, runner) == len(journal["undo"])
    assert machine_state(paths) == before


def test_sigterm_during_a_run_restores_everything_then_stops(fake, small_trace,
                                                             replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    runner.hooks["mkdir"] = lambda: os.kill(os.getpid(), signal.SIGTERM)
    old = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Interrupted) as err:
        run_kernel(small_trace, settings(), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert err.value.signum == signal.SIGTERM
    assert machine_state(paths) == before
    assert signal.getsignal(signal.SIGTERM) is old      # handlers put back


def test_a_signal_during_restore_waits_until_everything_is_restored(fake, small_trace,
                                                                    replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    runner.hooks["swapoff"] = lambda: os.kill(os.getpid(), signal.SIGTERM)
    with pytest.raises(Interrupted):
        run_kernel(small_trace, settings(runs=3), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert machine_state(paths) == before
    # the signal came while restoring run 1: runs 2 and 3 never started
    assert [c[0] for c in runner.commands].count("swapon") == 1


@pytest.mark.parametrize("setup", [{}, {"backend": "zswap", "swap_device": "file",
                                        "allow_zswap": True}], ids=["zram", "swapfile"])
def test_ctrl_c_restores_everything(fake, small_trace, replayer_cache, setup):
    paths, runner = fake
    before = machine_state(paths)
    runner.hooks["swapon"] = lambda: os.kill(os.getpid(), signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        run_kernel(small_trace, settings(**setup), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert machine_state(paths) == before


# ---------------------------------------------------------------- zswap


def zswap_writes(runner: FakeRunner) -> list[str]:
    return [v for p, v in runner.writes if p.endswith("zswap/parameters/enabled")]


def test_zswap_backend_enables_zswap_and_puts_it_back(fake, small_trace, replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    report = run_kernel(small_trace, settings(backend="zswap", allow_zswap=True),
                        paths=paths, runner=runner, cache=replayer_cache)
    assert zswap_writes(runner) == ["Y", "N"]
    assert machine_state(paths) == before          # loop detached, backing file removed
    assert report["model_config"].rotational is True
    assert report["model_config"].zswap_ever_enabled is True
    assert report["model_config"].compressor == "lzo"


def test_zswap_on_a_swapfile_swaps_to_the_file_and_removes_it(fake, small_trace,
                                                              replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    report = run_kernel(small_trace, settings(backend="zswap", swap_device="file",
                                              allow_zswap=True),
                        paths=paths, runner=runner, cache=replayer_cache)
    swapons = [c for c in runner.commands if c[0] == "swapon"]
    assert len(swapons) == 1 and swapons[0][1].endswith(".swap")     # the file itself
    assert not [c for c in runner.commands if c[0] == "losetup"]
    assert zswap_writes(runner) == ["Y", "N"]
    assert machine_state(paths) == before          # swapped off, the file removed
    assert report["model_config"].swap_device == "file"
    assert "blkdev" not in report["model_config"].swap_caps


def test_an_unknown_swap_device_is_refused():
    with pytest.raises(SettingsError, match="swap device"):
        settings(backend="zswap", swap_device="nfs").check()


def test_restore_never_writes_a_zswap_value_that_is_already_there(tmp_path, small_trace,
                                                                  replayer_cache):
    paths = make_root(tmp_path / "root", zswap_enabled="Y")
    runner = FakeRunner(paths)
    before = machine_state(paths)
    run_kernel(small_trace, settings(backend="zswap", allow_zswap=True), paths=paths,
               runner=runner, cache=replayer_cache)
    assert zswap_writes(runner) == []
    assert machine_state(paths) == before


def test_zswap_backend_is_refused_without_allow_zswap_and_writes_nothing(fake, small_trace,
                                                                        replayer_cache):
    paths, runner = fake
    with pytest.raises(Refused, match="ever-enabled key until reboot"):
        run_kernel(small_trace, settings(backend="zswap"), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert runner.writes == []


def test_a_session_refuses_any_zswap_parameter_write_without_allow_zswap(fake):
    paths, runner = fake
    with KernelSession(paths, runner) as s, pytest.raises(LiveError, match="allow-zswap"):
        s.set(paths.zswap_params / "enabled", "N", what="zswap enabled")
    assert zswap_writes(runner) == []


def test_a_second_validation_refuses_while_one_is_running(fake, small_trace, replayer_cache):
    paths, runner = fake
    paths.journal_dir.mkdir(parents=True, exist_ok=True)
    (paths.journal_dir / "validate.json").write_text(
        json.dumps({"owner_pid": os.getppid(), "undo": []}))        # a live process
    with pytest.raises(Refused, match=f"another replay validate \\(pid {os.getppid()}\\)"):
        run_kernel(small_trace, settings(), paths=paths, runner=runner, cache=replayer_cache)
    with pytest.raises(Refused, match="still running"):
        recover(paths, runner)
    assert runner.writes == [] and runner.commands == []


def test_a_journal_left_empty_by_a_killed_run_is_cleared(fake, small_trace, replayer_cache):
    paths, runner = fake
    paths.journal_dir.mkdir(parents=True, exist_ok=True)
    gone = 2 ** 22 + 7                                   # above any pid_max: never alive
    (paths.journal_dir / "validate.json").write_text(json.dumps({"owner_pid": gone,
                                                                 "undo": []}))
    before = machine_state(paths)
    run_kernel(small_trace, settings(), paths=paths, runner=runner, cache=replayer_cache)
    assert machine_state(paths) == {**before, "journal": []}


def test_a_setting_already_at_the_asked_value_is_not_written(fake):
    paths, runner = fake
    with KernelSession(paths, runner) as s:
        s.set(paths.page_cluster, "3", what="page-cluster")
        assert s.undo == []
    assert runner.writes == []


# ---------------------------------------------------------------- what the kernel is


def test_zswap_ever_enabled_comes_from_the_kernel_log(fake):
    paths, runner = fake
    info = probe_kernel(paths, runner)
    assert info.zswap_ever_enabled is False
    assert mainline_policy(info, "zram") == "mainline"
    runner.dmesg = BOOT_DMESG + "[    5.1] zswap: loaded using pool lzo/zsmalloc\n"
    info = probe_kernel(paths, runner)
    assert info.zswap_ever_enabled is True and "loaded using pool" in info.zswap_evidence
    assert mainline_policy(info, "zram") == "order0-fallback"


def test_zswap_ever_enabled_from_zswap_counters_since_boot(fake):
    paths, runner = fake
    runner.dmesg = "[ 9999.1] eth0: link up\n"      # the log no longer reaches boot
    vmstat = paths.proc_vmstat
    vmstat.write_text(vmstat.read_text().replace("zswpout 0", "zswpout 1765"))
    info = probe_kernel(paths, runner)
    assert info.zswap_ever_enabled is True
    assert "zswpout 1,765" in info.zswap_evidence
    assert mainline_policy(info, "zram") == "order0-fallback"


def test_zswap_ever_enabled_is_unknown_when_the_log_no_longer_reaches_boot(fake):
    paths, runner = fake
    runner.dmesg = "[ 9999.1] eth0: link up\n"
    info = probe_kernel(paths, runner)
    assert info.zswap_ever_enabled is None
    assert any("unknown" in w for w in info.warnings)


def test_zswap_enabled_now_means_ever_enabled(tmp_path):
    paths = make_root(tmp_path / "root", zswap_enabled="Y")
    info = probe_kernel(paths, FakeRunner(paths))
    assert info.zswap_ever_enabled is True
    assert mainline_policy(info, "zswap") == "order0-fallback"


@pytest.mark.parametrize("kw,reason", [
    ({"lru_gen": "0x0007"}, "MGLRU is on"),
    ({"memcg_v1": False}, "cgroup v2 only"),
])
def test_comparisons_the_model_cannot_make_are_refused_with_the_reason(tmp_path, kw, reason):
    paths = make_root(tmp_path / "root", **kw)
    info = probe_kernel(paths, FakeRunner(paths))
    with pytest.raises(Refused, match=reason):
        check_comparable(info, backend="zram", allow_zswap=False)


def test_mglru_present_but_off_is_accepted(tmp_path):
    paths = make_root(tmp_path / "root", lru_gen="0x0000")
    info = probe_kernel(paths, FakeRunner(paths))
    assert info.mglru is False
    check_comparable(info, backend="zram", allow_zswap=False)


def test_an_active_swap_device_is_refused(fake, small_trace, replayer_cache):
    paths, runner = fake
    with open(paths.proc_swaps, "a") as f:
        f.write("/swapfile\tfile\t1048572\t0\t-2\n")
    with pytest.raises(Refused, match="swap is already on"):
        run_kernel(small_trace, settings(), paths=paths, runner=runner, cache=replayer_cache)
    assert runner.writes == []


def test_a_size_the_kernel_lacks_is_refused(fake, small_trace, replayer_cache):
    paths, runner = fake
    before = machine_state(paths)
    with pytest.raises(Refused, match="no 8K mTHP size"):
        run_kernel(small_trace, settings(mthp_sizes_kb=(8,)), paths=paths, runner=runner,
                   cache=replayer_cache)
    assert machine_state(paths) == before


# ---------------------------------------------------------------- the replay file


def test_the_replay_file_keeps_dense_ids_ops_and_the_models_page_contents(tmp_path):
    path = tmp_path / "t.parquet"
    base = 0x7F0000000
    vpn = np.array([base + 3, base + 600, base + 3, base + 1030, base + 600], np.int64)
    op = np.array([OP_WRITE, OP_READ, OP_PAGEOUT, OP_READ, OP_WRITE], np.uint8)
    data = bytes(range(256)) * 16
    write_trace(path, TraceMeta(), np.arange(5), vpn, op,
                regions={"asid": [0, 0], "start_vpn": [base, base + 1024],
                             "end_vpn": [base + 1024, base + 1536], "hugepage": [True, False]},
                contents={"asid": [0, 0, 0], "vpn": [base, base + 600, base + 1024],
                              "npages": [512, 1, 512], "version": [0, 0, 0],
                              "content_class": ["zero", "text", "random"],
                              "data": [None, data, None]})
    trace = open_trace(path)
    summary = export_replay_file(trace, tmp_path / "t.frp")
    f = read_replay_file(tmp_path / "t.frp")
    dense = np.concatenate([trace.dense_ids(c) for c in trace.iter_chunks()])
    assert (f["records"] >> 2).tolist() == dense.tolist()
    assert (f["records"] & 3).tolist() == op.tolist()
    assert f["n_pages"] == trace.num_dense_pages == 3 * 512
    assert f["hugepage"].tolist() == [1, 1, 0]
    ids = f["content_ids"]
    sizes = page_compressed_sizes(trace, "lz4")
    assert ((ids == ZERO_CONTENT) == sizes.is_zero).all()
    assert f["contents"][ids[dense[1]]] == data              # recorded bytes win
    random_page = f["contents"][ids[dense[3]]]
    assert len(set(random_page)) > 200                       # a random-class sample
    assert summary.data_pages == 1 and summary.contents == len(f["contents"])


def test_building_without_a_compiler_says_so_in_one_line(tmp_path):
    with pytest.raises(LiveError, match="no C compiler"):
        build_replayer(cc="definitely-not-a-compiler", cache=tmp_path)


# ---------------------------------------------------------------- comparing


def result(counters: dict, swpout: int = 0) -> dict:
    return {"counters": counters, "per_size": {"64kB": {"swpout": swpout, "swpin": 1}}}


def test_comparison_lines_are_the_headline_sums_then_shared_counters():
    runs = [result({"pgmajfault": 100, "zswpin": 10, "pswpin": 80, "swpin_zero": 10,
                    "zswpout": 50, "pswpout": 70, "zswpwb": 20, "swpout_zero": 0,
                    "kernel_only": 1}, swpout=7),
            result({"pgmajfault": 110, "zswpin": 10, "pswpin": 90, "swpin_zero": 10,
                    "zswpout": 50, "pswpout": 70, "zswpwb": 20, "swpout_zero": 0,
                    "kernel_only": 1}, swpout=7)]
    model = result({"pgmajfault": 126, "zswpin": 0, "pswpin": 100, "swpin_zero": 0,
                    "zswpout": 100, "pswpout": 0, "zswpwb": 0, "swpout_zero": 0}, swpout=14)
    rows = {r["counter"]: r for r in compare(runs, model)}
    assert list(rows)[:4] == ["pgmajfault", "swap-ins", "swap-outs", "64kB swpout"]
    assert rows["swap-ins"]["kernel"] == 105 and rows["swap-ins"]["model"] == 100
    assert rows["swap-outs"]["kernel"] == 100 and rows["swap-outs"]["model"] == 100
    assert rows["pgmajfault"]["relative_error"] == pytest.approx(21 / 105)
    assert rows["pgmajfault"]["kernel_spread"] == pytest.approx(10 / 105)
    assert rows["64kB swpout"]["relative_error"] == pytest.approx(1.0)
    assert "kernel_only" not in rows
    assert rows["64kB swpin"]["relative_error"] == 0


def test_lines_other_processes_count_in_stay_out_of_the_maximum():
    runs = [result({"pgmajfault": 100}), result({"pgmajfault": 100})]
    for r in runs:
        r["per_size"]["64kB"]["anon_fault_alloc"] = 900
    model = result({"pgmajfault": 110})
    model["per_size"]["64kB"]["anon_fault_alloc"] = 300
    rows = {r["counter"]: r for r in compare(runs, model)}
    assert not rows["64kB anon_fault_alloc"]["shared"]     # nobody else was there
    runs[1]["derived"] = {"other_hugepage_users": [[4242, "python"]]}
    rows = {r["counter"]: r for r in compare(runs, model)}
    assert rows["64kB anon_fault_alloc"]["shared"]
    assert not rows["pgmajfault"]["shared"] and not rows["64kB swpout"]["shared"]


def test_relative_error_is_finite_when_the_kernel_counted_nothing():
    assert relative_error(0, 0) == 0
    assert relative_error(5, 0) == 5
    assert summarize_runs([result({"x": 0}), result({"x": 0})])["x"]["spread"] == 0


def test_json_is_written_atomically(tmp_path):
    out = tmp_path / "r.json"
    write_json_atomic(out, {"max_relative_error": 0.5, "a": np.int64(3)})
    assert json.loads(out.read_text()) == {"max_relative_error": 0.5, "a": 3}
    with pytest.raises(TypeError):
        write_json_atomic(out, {"bad": object()})
    assert json.loads(out.read_text())["a"] == 3          # the old file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_the_command_reports_a_missing_trace_in_one_line(capsys, tmp_path):
    code = main(["validate", str(tmp_path / "nope.parquet"), "--no-model"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("replay: error: ") and err.count("\n") == 1
    assert "Traceback" not in err


def test_damon_at_work_is_found_and_said(tmp_path):
    paths = KernelPaths(root=tmp_path)
    assert damon_at_work(paths) == []
    k = paths.at("/sys/kernel/mm/damon/admin/kdamonds")
    for i, state in (("0", "on"), ("1", "off")):
        (k / i / "contexts" / "0").mkdir(parents=True)
        (k / i / "state").write_text(state + "\n")
        (k / i / "pid").write_text("99\n")
        (k / i / "contexts" / "0" / "operations").write_text("paddr\n")
    m = paths.at("/sys/module/damon_lru_sort/parameters")
    m.mkdir(parents=True)
    (m / "enabled").write_text("Y\n")
    assert damon_at_work(paths) == ["kdamond 0 (paddr monitoring, pid 99)",
                                    "damon_lru_sort enabled"]


def test_fault_log_comes_back_from_the_replayer_and_the_model(fake, small_trace,
                                                              replayer_cache):
    paths, runner = fake
    s = settings(runs=1, page_cluster=0, model=True, fault_log=True)
    report = run_validation(small_trace, s, paths=paths, runner=runner, cache=replayer_cache)
    logs = report["fault_logs"]
    # the replayer ran with --fault-log and its file came back whole (a fake root swaps
    # nothing out: rows of four, maybe none), and the model logged its faults
    assert logs["kernel run 1"].ndim == 2 and logs["kernel run 1"].shape[1] == 4
    model = logs[f"model {report['policies'][0]}"]
    assert model.shape[1] == 4
    assert int(model[:, 3].sum()) == report["model"][0]["counters"]["pgmajfault"]
    assert "fault_log" not in report["model"][0]

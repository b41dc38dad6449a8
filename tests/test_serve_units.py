"""replay serve's pieces without a server: which importer an upload needs, names that
never become paths, and settings that are `replay compare`'s own options."""

from __future__ import annotations

import bz2
import gzip
import lzma

import lz4.frame
import numpy as np
import pytest
import zstandard
from test_import_bad_input import CSV, LACKEY, LCS_CSV, PERF, VALID, champsim, damo, oracle

from replay.commands.common import settings_options
from replay.errors import SettingsError, TraceError
from replay.serve import settings as serve_settings
from replay.serve.detect import PARQUET, detect
from replay.serve.uploads import display_name, trace_stem

# ---------------------------------------------------------------- format detection


@pytest.mark.parametrize("fmt", sorted(VALID))
def test_each_importable_format_is_detected_from_its_bytes(fmt):
    found = detect(VALID[fmt], "upload")
    assert (found.format, found.compression) == (fmt, None)


COMPRESSORS = {"gz": gzip.compress, "bz2": bz2.compress, "xz": lzma.compress,
               "zst": lambda b: zstandard.ZstdCompressor().compress(b),
               "lz4": lz4.frame.compress}


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
def test_compression_comes_from_the_magic_number_not_the_name(suffix):
    data = COMPRESSORS[suffix](LACKEY * 50)
    found = detect(data, "trace.txt")                # the name says nothing of it
    assert (found.format, found.compression) == ("lackey", suffix)


def test_binary_records_are_told_apart():
    assert detect(champsim(40), "x").format == "champsim"
    assert detect(oracle(times=tuple(range(40)), lbns=tuple(range(40))), "x").format == \
        "oraclegeneral"
    assert detect(lzma.compress(champsim(40)), "x.xz").format == "champsim"


def test_text_formats_are_told_apart():
    assert detect(CSV, "").format == "csv"
    assert detect(LCS_CSV, "").format == "libcachesim-csv"
    assert detect(LCS_CSV.split(b"\n", 1)[1], "").format == "libcachesim-csv"  # no header
    assert detect(PERF, "").format == "perf-script"
    assert detect(damo(), "").format == "damo"
    assert detect(b'[{"target_id": 1}]', "").format == "damo"


def test_a_canonical_trace_is_taken_as_it_is(seq_trace):
    head = seq_trace.read_bytes()[:4096]
    assert detect(head, "x").format == PARQUET
    with pytest.raises(TraceError, match="gz-compressed Parquet"):
        detect(gzip.compress(seq_trace.read_bytes()), "x.parquet.gz")


def test_what_cannot_be_told_asks_for_the_format():
    noise = np.random.default_rng(3).integers(0, 256, 8192, dtype=np.uint8).tobytes()
    with pytest.raises(TraceError, match="cannot tell which format") as e:
        detect(noise, "blob.bin")
    assert e.value.one_line().startswith("blob.bin: ")


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("given,shown", [
    ("../../../../etc/passwd", "passwd"),
    ("..\\..\\windows\\system.ini", "system.ini"),
    ("/abs/path/trace.csv", "trace.csv"),
    ("..", "upload"),
    ("", "upload"),
    ("a\x00b\x1b[31mc.csv", "ab[31mc.csv"),         # control characters dropped
    (".hidden.lackey", "hidden.lackey"),
])
def test_uploaded_names_are_display_names_never_paths(given, shown):
    name = display_name(given)
    assert name == shown
    assert "/" not in name and "\\" not in name and not name.startswith(".")


@pytest.mark.parametrize("name,stem", [
    ("app.lackey.gz", "app"), ("kvscan.parquet", "kvscan"), ("trace.csv", "trace"),
    ("my trace (1).csv.zst", "my-trace-1"), ("passwd", "passwd"), ("...", "trace"),
    ("run-2024.12.01.csv", "run-2024.12.01"),
])
def test_trace_names_are_plain_file_stems(name, stem):
    assert trace_stem(name) == stem


# ---------------------------------------------------------------- settings


def test_the_fields_are_every_setting_of_replay_compare_but_the_servers_own():
    import click
    command = click.command()(settings_options(lambda **kw: None))
    options = {p.name for p in command.params} - {"policies"}
    assert {f.name for f in serve_settings.fields()} == \
        options - {"cost_model", "threads", "chunk_rows"}
    by_name = {f.name: f for f in serve_settings.fields()}
    assert by_name["mthp"].default == "64K" and by_name["memcg"].default == "v2"
    assert by_name["zswap_shrinker"].default is True
    assert by_name["zswap_shrinker"].off_flag == "--no-zswap-shrinker"
    assert by_name["thp"].choices == ("always", "madvise")


def test_api_settings_become_a_compare_command_line():
    values = serve_settings.values_from_json({
        "memory_limit": ["16M", "50%"], "policy": "hybrid-supported", "mthp": "16K,64K",
        "zswap-shrinker": False, "charge_guard": True, "page_cluster": 0, "thp": "always"})
    argv = serve_settings.argv_of(values)
    assert argv == ["--memory-limit", "16M", "--memory-limit", "50%",
                    "--policy", "hybrid-supported", "--mthp", "16K,64K",
                    "--no-zswap-shrinker", "--page-cluster", "0", "--charge-guard"]
    checked = serve_settings.check(argv)
    assert checked.policies == ["hybrid-supported"]
    assert checked.memory_limits == ["16M", "50%"]
    opts = serve_settings.compare_options(argv)
    assert opts["zswap_shrinker"] is False and opts["page_cluster"] == 0
    assert serve_settings.compare_command("t.parquet", argv).startswith(
        "replay compare t.parquet --memory-limit 16M --memory-limit 50% --policy ")


@pytest.mark.parametrize("settings,message", [
    ({"nonsense": 1}, "unknown setting 'nonsense'"),
    ({"zswap_shrinker": "no"}, "must be true or false"),
    ({"memory_limit": "0%"}, "must be above 0%"),
    ({"memory_limit": ["16M", "16M"]}, "given twice"),
    ({"memory_limit": [f"{k}M" for k in range(2, 12)]}, "at most 8"),
    ({"policy": "bogus"}, "unknown policy 'bogus'"),
    ({"thp": "sometimes"}, "'sometimes' is not one of"),
    ({"mthp": "--html"}, "--mthp size"),
    ({"cost_model": "/etc/passwd"}, "unknown setting 'cost_model'"),
    ({"html_out": "/tmp/x.html"}, "unknown setting 'html_out'"),
])
def test_bad_settings_are_one_line(settings, message):
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        serve_settings.check(serve_settings.argv_of(serve_settings.values_from_json(settings)))


def test_import_options_are_replay_imports_but_not_its_paths():
    args, given = serve_settings.import_options("--addr-col 2 --op-col 'the op'")
    assert args == ["--addr-col", "2", "--op-col", "the op"]
    assert given == {"addr_col": "2", "op_col": "the op"}
    for text, message in [("-o /etc/cron.d/x", "No such option '-o'"),
                          ("--output=x", "No such option"), ("somefile", "unexpected extra"),
                          ("--addr-col 'unclosed", "No closing quotation")]:
        with pytest.raises(SettingsError, match=message):
            serve_settings.import_options(text)

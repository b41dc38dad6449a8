"""Representative 4 KiB page contents for each content class of a trace.

A trace that did not record a page's bytes says what kind of data it held
(``replay.trace.CONTENT_CLASSES``). The compressors must still see realistic
bytes with variety between pages, so each class has a deterministic sample of
``SAMPLE_PAGES`` distinct pages, generated once per class from a fixed seed
(page ``i`` of a class is sample ``i % SAMPLE_PAGES``). Repetition is mostly
local to a page (its topic words, its functions' instructions) plus a shared
language (function words, common idioms), so a 64 KiB unit of one class
compresses only a little better than its 16 pages apart, as real data does
(perf-anchors: +5-8% for lz4 on libpython). The ratios these pages give with
the real codecs are measured by benchmarks/bench_codecs.py and listed in
docs/costs.md.

Classes:
  zero    all zero bytes.
  random  uniformly random bytes (incompressible: ratio 1.0).
  text    natural-language-like text: Zipf-distributed words of a made-up
          language, each page with its own topic words and phrases,
          punctuation, capitals after full stops, line breaks.
  half    in each page about half random bytes, half zero bytes, in 1-4 runs.
  mixed   a heap: 8-byte words that are pointers into a few arenas, small
          integers, zeros, object headers and type pointers, short
          NUL-terminated strings, doubles.
  code    x86-64-like machine code: common idioms (prologues, register
          moves, padding), each page's own instructions and instruction
          sequences, calls to spread-out targets.
  unknown no information: generated as ``UNKNOWN_AS`` (mixed), because
          anonymous memory of an unknown program is most often heap.
"""

from __future__ import annotations

import os
from functools import cache, lru_cache
from pathlib import Path

import numpy as np

from replay.atomic import remove_stale_temps, remove_temp, replace, temp_beside
from replay.trace import CONTENT_CLASSES, PAGE_SIZE

UNKNOWN_AS = "mixed"            # what a page of class "unknown" is generated as
SAMPLE_PAGES = 512              # distinct sample pages per class (a 2 MiB stream)
CLASS_CODE = {name: i for i, name in enumerate(CONTENT_CLASSES)}
_SEED = 0xF0110C0D              # fixed: contents never depend on anything but (class, index)
_STREAM_BYTES = SAMPLE_PAGES * PAGE_SIZE
ZERO_PAGE = bytes(PAGE_SIZE)


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([_SEED, *key])


# ---------------------------------------------------------------- text
_FUNCTION_WORDS = ["the", "of", "and", "to", "a", "in", "is", "that", "it", "for", "was", "on", "are", "as", "with", "his", "they", "be", "at", "one", "have", "this", "from", "or", "had", "by", "not", "but", "what", "some", "we", "can", "out", "other", "were", "all", "there", "when", "up", "use", "your", "how", "said", "an", "each", "she", "which", "do", "their", "time", "if", "will", "way", "about", "many", "then", "them", "would", "write", "like", "so", "these", "her", "long", "make", "thing", "see", "him", "two", "has", "look", "more", "day", "could", "go", "come", "did", "number", "sound", "no", "most", "people", "my", "over", "know", "water", "than", "call", "first", "who", "may", "down", "side", "been", "now", "find", "any", "new", "work", "part", "take", "get", "place", "made", "live", "where", "after", "back", "little", "only"]
_ONSETS = ["b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "w", "br", "ch", "cl", "dr", "fl", "gr", "pl", "pr", "sh", "sp", "st", "th", "tr"]
_VOWELS = ["a", "e", "i", "o", "u", "a", "e", "i", "o", "ea", "ou"]
_CODAS = ("", "", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "nt", "ll")
_TEXT_VOCAB = 3000
_TEXT_ZIPF = 1.1
_TOPIC_WORDS = 40               # each page's own hot content words ...
_TOPIC_PHRASES = 24             # ... and recurring 2-4 word phrases made of them
# token mix: function words, the page's topic words, its phrases, any word of the language
_TEXT_MIX = (0.35, 0.25, 0.25, 0.15)


@lru_cache(maxsize=1)
def _text_vocabulary() -> tuple[tuple[bytes, ...], np.ndarray]:
    """The language: words (frequent first) and their Zipf CDF."""
    rng = _rng(1000)
    words = [w.encode() for w in _FUNCTION_WORDS]
    seen = set(words)
    while len(words) < _TEXT_VOCAB:
        syllables = 1 + int(rng.random() < 0.55) + int(rng.random() < 0.2)
        w = "".join(_ONSETS[rng.integers(len(_ONSETS))] + _VOWELS[rng.integers(len(_VOWELS))]
                    + _CODAS[rng.integers(len(_CODAS))] for _ in range(syllables))
        b = w.encode()
        if b not in seen:
            seen.add(b)
            words.append(b)
    cdf = np.cumsum(1.0 / np.arange(1, len(words) + 1) ** _TEXT_ZIPF)
    return tuple(words), cdf / cdf[-1]


def _zipf_cdf(n: int, s: float = 1.0) -> np.ndarray:
    c = np.cumsum(1.0 / np.arange(1, n + 1) ** s)
    return c / c[-1]


def _text_page(rng: np.random.Generator) -> bytes:
    """One page of running text about its own topic: local hot words and phrases."""
    words, cdf = _text_vocabulary()
    nfw = len(_FUNCTION_WORDS)
    topic = [words[i] for i in rng.integers(nfw, len(words), _TOPIC_WORDS)]
    fw_cdf = _zipf_cdf(nfw)
    tcdf = _zipf_cdf(_TOPIC_WORDS)
    lengths = rng.integers(2, 5, _TOPIC_PHRASES)
    from_topic = rng.random(4 * _TOPIC_PHRASES) < 0.5
    u = rng.random(4 * _TOPIC_PHRASES)
    pool = np.where(from_topic, nfw + np.searchsorted(tcdf, u), np.searchsorted(fw_cdf, u))
    choice_table = list(words[:nfw]) + topic
    phrases = [b" ".join(choice_table[int(j)] for j in pool[4 * k:4 * k + int(n)])
               for k, n in enumerate(lengths)]
    pcdf = _zipf_cdf(_TOPIC_PHRASES)
    n = 1400
    src = rng.choice(4, n, p=_TEXT_MIX)
    u = rng.random(n)
    p = rng.random(n)
    q = rng.random(n)
    choice = np.select([src == 0, src == 1, src == 2],
                       [np.searchsorted(fw_cdf, u), nfw + np.searchsorted(tcdf, u),
                        nfw + _TOPIC_WORDS + np.searchsorted(pcdf, u)],
                       nfw + _TOPIC_WORDS + _TOPIC_PHRASES + np.searchsorted(cdf, u))
    table = list(words[:nfw]) + topic + phrases + list(words)
    out: list[bytes] = []
    size = 0
    capital = True
    for i in range(n):
        w = table[min(int(choice[i]), len(table) - 1)]
        if capital:
            w = w[:1].upper() + w[1:]
        capital = p[i] < 0.055
        if capital:
            w += b"."
        elif p[i] < 0.11:
            w += b","
        out.append(w)
        out.append(b"\n" if q[i] < 1 / 11 else b" ")
        size += len(w) + 1
        if size > PAGE_SIZE + 600:
            break
    text = b"".join(out)
    start = int(rng.integers(0, len(text) - PAGE_SIZE))
    return text[start:start + PAGE_SIZE]


def _text_stream() -> np.ndarray:
    rng = _rng(CLASS_CODE["text"])
    return np.frombuffer(b"".join(_text_page(rng) for _ in range(SAMPLE_PAGES)), np.uint8)


# ---------------------------------------------------------------- random, half
def _random_stream() -> np.ndarray:
    return _rng(CLASS_CODE["random"]).integers(0, 256, _STREAM_BYTES, dtype=np.uint8)


def _half_stream() -> np.ndarray:
    rng = _rng(CLASS_CODE["half"])
    out = np.zeros((SAMPLE_PAGES, PAGE_SIZE), np.uint8)
    noise = rng.integers(0, 256, (SAMPLE_PAGES, PAGE_SIZE), dtype=np.uint8)
    for k in range(SAMPLE_PAGES):
        runs = int(rng.integers(1, 5))                      # 1-4 random runs
        random_total = int(PAGE_SIZE * rng.uniform(0.45, 0.55))
        cuts = np.sort(rng.choice(np.arange(1, random_total), runs - 1, replace=False))
        lengths = np.diff(np.r_[0, cuts, random_total])
        gap_total = PAGE_SIZE - random_total
        gaps = np.diff(np.r_[0, np.sort(rng.integers(0, gap_total + 1, runs)), gap_total])
        pos = int(gaps[0])
        for j in range(runs):
            length = int(lengths[j])
            out[k, pos:pos + length] = noise[k, pos:pos + length]
            pos += length + int(gaps[j + 1])
    return out.reshape(-1)


# ---------------------------------------------------------------- mixed (heap)
_ARENAS = np.array([0x00007F3A12000000, 0x00007F3A2C400000, 0x000055D4E8A00000,
                    0x00007FFDB7F00000], np.uint64)
_HEADERS = np.array([0x00007F3A11E0A0C0, 0x00007F3A11E0A3A8, 0x00007F3A11E0B210,
                     0x000055D4E6C13F40, 0x0000000100000001, 0x0000000200000001,
                     0x0000000000000001, 0x00000000FFFFFFFF], np.uint64)
# word kinds: pointer, small int, zero, header/type pointer, string start, double
_MIXED_P = (0.28, 0.18, 0.28, 0.14, 0.07, 0.05)


def _mixed_stream() -> np.ndarray:
    rng = _rng(CLASS_CODE["mixed"])
    nwords = _STREAM_BYTES // 8
    kind = rng.choice(len(_MIXED_P), nwords, p=_MIXED_P)
    words = np.zeros(nwords, np.uint64)
    # pointers: objects allocated close together, 16-byte aligned, within 64 KiB
    # of a slowly moving cursor per arena (allocation locality)
    arena = rng.integers(0, len(_ARENAS), nwords)
    cursor = np.cumsum(rng.integers(0, 64, nwords)).astype(np.uint64) << np.uint64(4)
    jitter = rng.integers(0, 4096, nwords).astype(np.uint64) << np.uint64(4)
    ptr = _ARENAS[arena] + cursor + jitter
    words = np.where(kind == 0, ptr, words)
    small = np.where(rng.random(nwords) < 0.75, rng.integers(0, 64, nwords),
                     rng.integers(0, 1 << 16, nwords)).astype(np.uint64)
    words = np.where(kind == 1, small, words)
    words = np.where(kind == 3, _HEADERS[rng.integers(0, len(_HEADERS), nwords)], words)
    doubles = np.round(rng.normal(0.0, 1000.0, nwords), 2).view(np.uint64)
    words = np.where(kind == 5, doubles, words)
    raw = np.frombuffer(words.tobytes(), np.uint8).copy()
    # strings: 8-32 bytes of identifier-like text, NUL terminated
    starts = np.flatnonzero(kind == 4)
    text = np.frombuffer(class_stream("text"), np.uint8)
    lengths = 8 * rng.integers(1, 5, len(starts))
    src = rng.integers(0, len(text) - 40, len(starts))
    for w, n, s in zip(starts.tolist(), lengths.tolist(), src.tolist()):
        o = 8 * w
        n = min(n, _STREAM_BYTES - o)
        raw[o:o + n] = text[s:s + n]
        raw[o + n - 1] = 0
    return raw


# ---------------------------------------------------------------- code
_IDIOMS = [bytes.fromhex(h) for h in (
    "4889c7", "4889de", "4889ef", "4c89e7", "31c0", "31d2", "4885c0", "85c0", "c3",
    "5d", "5b", "415c", "415d", "4883c408", "488b4508", "488b4510", "488b45f8",
    "488945f8", "488b7df8", "8b45fc", "8945fc", "e9", "0f1f4000", "0f1f440000",
    "660f1f440000", "f30f1efa", "55", "4889e5", "53", "4154", "4155", "4883ec08",
    "488b07", "488b4708", "488b5710", "ff5010", "ffd0", "7405", "7507", "eb0a",
)]


def _code_instructions(rng: np.random.Generator, n: int) -> list[bytes]:
    """``n`` x86-64 instructions with operands drawn the way compilers tend to use them."""
    f = rng.integers(0, 256, (n, 4)).tolist()
    regs = rng.choice(8, (n, 2), p=_CODE_REG_P).tolist()
    disp = rng.choice(_CODE_DISP, n, p=_CODE_DISP_P).tolist()
    kind = rng.random(n).tolist()
    out = []
    for (b0, b1, b2, b3), (r1, r2), d, x in zip(f, regs, disp, kind):
        if x < 0.30:                                     # mov r64, [rbp+disp8]
            ins = (0x48, 0x8B, 0x45 | (r1 << 3), d)
        elif x < 0.45:                                   # mov [rbp+disp8], r64
            ins = (0x48, 0x89, 0x45 | (r1 << 3), d)
        elif x < 0.58:                                   # jcc rel8 / rel32
            ins = (0x70 | (b1 & 0xF), b2) if b0 & 3 else (0x0F, 0x80 | (b1 & 0xF), b2, b3 & 3, 0, 0)
        elif x < 0.70:                                   # cmp r64, imm8 / test r, r
            ins = (0x48, 0x83, 0xF8 | r1, b1 & 0x1F) if b0 & 1 else (0x48, 0x85, 0xC0 | (r1 << 3) | r2)
        elif x < 0.80:                                   # mov r32, imm32 (small)
            ins = (0xB8 | r1, b0 & 0x3F, b1 & 1, 0, 0)
        elif x < 0.90:                                   # lea r64, [rip+disp32]
            ins = (0x48, 0x8D, 0x05 | (r1 << 3), b0, b1, b2 & 0x0F, 0)
        else:                                            # reg-reg alu
            ins = (0x48, (0x89, 0x01, 0x29, 0x31)[b0 & 3], 0xC0 | (r1 << 3) | r2)
        out.append(bytes(ins))
    return out


_CODE_REG_P = (0.30, 0.08, 0.14, 0.06, 0.04, 0.08, 0.12, 0.18)   # rax, rdi, rsi, rdx lead
_CODE_DISP = np.array([0xF8, 0xF0, 0xE8, 0xE0, 0x08, 0x10, 0x18, 0x20, 0xD8, 0x28])
_CODE_DISP_P = (0.2, 0.15, 0.1, 0.07, 0.15, 0.12, 0.08, 0.05, 0.04, 0.04)
_CODE_LOCAL = 120               # each page's own instructions (its functions' operands) ...
_CODE_LOCAL_SNIPPETS = 8        # ... and recurring 3-8 instruction sequences of them
# token mix: global idioms, the page's instructions, its snippets, calls (random targets)
_CODE_MIX = (0.20, 0.55, 0.10, 0.15)


def _code_page(rng: np.random.Generator) -> bytes:
    """One page of code: global idioms, page-local instructions and snippets, calls."""
    local = _code_instructions(rng, _CODE_LOCAL)
    lcdf = _zipf_cdf(_CODE_LOCAL)
    snippets = [b"".join(local[min(int(j), _CODE_LOCAL - 1)]
                         for j in np.searchsorted(lcdf, rng.random(int(rng.integers(3, 9)))))
                for _ in range(_CODE_LOCAL_SNIPPETS)]
    scdf = _zipf_cdf(_CODE_LOCAL_SNIPPETS)
    icdf = _zipf_cdf(len(_IDIOMS), 1.2)
    n = 1600
    src = rng.choice(4, n, p=_CODE_MIX)
    u = rng.random(n)
    rel = rng.integers(-(1 << 19), 1 << 19, n)
    ni = len(_IDIOMS)
    table = list(_IDIOMS) + local + snippets
    choice = np.select([src == 0, src == 1, src == 2],
                       [np.minimum(np.searchsorted(icdf, u), ni - 1),
                        ni + np.minimum(np.searchsorted(lcdf, u), _CODE_LOCAL - 1),
                        ni + _CODE_LOCAL + np.minimum(np.searchsorted(scdf, u),
                                                      _CODE_LOCAL_SNIPPETS - 1)], -1)
    out: list[bytes] = []
    size = 0
    for i in range(n):
        c = int(choice[i])
        ins = table[c] if c >= 0 else b"\xe8" + int(rel[i]).to_bytes(4, "little", signed=True)
        out.append(ins)
        size += len(ins)
        if size > PAGE_SIZE + 64:
            break
    code = b"".join(out)
    start = int(rng.integers(0, 64))
    return code[start:start + PAGE_SIZE]


def _code_stream() -> np.ndarray:
    rng = _rng(CLASS_CODE["code"])
    return np.frombuffer(b"".join(_code_page(rng) for _ in range(SAMPLE_PAGES)), np.uint8)


_STREAMS = {"random": _random_stream, "text": _text_stream, "half": _half_stream,
            "mixed": _mixed_stream, "code": _code_stream}


GENERATOR_VERSION = 1           # bump when a generator changes: invalidates the disk cache


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "folio-replay"


@cache
def class_stream(content_class: str) -> bytes:
    """All ``SAMPLE_PAGES`` sample pages of a class, concatenated.

    Generated once per machine: kept in ``$XDG_CACHE_HOME/folio-replay`` (written
    atomically; regenerated when missing, truncated or of another generator version).
    """
    if content_class not in CLASS_CODE:
        raise ValueError(f"content class {content_class!r} is not one of "
                         f"{', '.join(CONTENT_CLASSES)}")
    if content_class == "unknown":
        return class_stream(UNKNOWN_AS)
    if content_class == "zero":
        return bytes(_STREAM_BYTES)
    path = _cache_dir() / f"content-v{GENERATOR_VERSION}-{content_class}.bin"
    try:
        data = path.read_bytes()
        if len(data) == _STREAM_BYTES:
            return data
    except OSError:
        pass
    data = _STREAMS[content_class]().tobytes()
    assert len(data) == _STREAM_BYTES
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(path)
        tmp = temp_beside(path)
        with open(tmp, "wb") as f:
            f.write(data)
        replace(tmp, path)
    except OSError:                 # a read-only home: generate again next time
        if tmp is not None:
            remove_temp(tmp)
    except BaseException:           # an interrupt: no half-written cache file is left
        if tmp is not None:
            remove_temp(tmp)
        raise
    return data


def class_page(content_class: str, index: int) -> bytes:
    """Page ``index`` of a content class: 4096 deterministic bytes (sample index % 512)."""
    i = int(index) % SAMPLE_PAGES
    return class_stream(content_class)[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]


def class_unit(content_class: str, first_index: int, npages: int) -> bytes:
    """``npages`` consecutive sample pages of one class, as one buffer."""
    return b"".join(class_page(content_class, first_index + i) for i in range(npages))

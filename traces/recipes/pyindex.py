"""An inverted index of the Python standard library's sources, queried with skewed lookups."""
import collections
import random
import re
import sys
import tarfile

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")
tf = tarfile.open(sys.argv[1])
docs = {m.name: tf.extractfile(m).read().decode("utf-8", "replace") for m in tf if m.isfile()}
index = collections.defaultdict(list)          # word -> [(file, line), ...]
for name, text in docs.items():
    for lineno, line in enumerate(text.splitlines()):
        for word in set(WORD.findall(line)):
            index[word].append((name, lineno))
words = sorted(index, key=lambda w: -len(index[w]))
rnd = random.Random(1)
hits = 0
for _ in range(300_000):                       # Zipf-like: popular words far more often
    word = words[min(int(rnd.paretovariate(1.1)) - 1, len(words) - 1)]
    hits += len(index[word])
    if rnd.random() < 0.05:                    # a few updates
        index[word].append(("<query>", hits))
per_file = collections.Counter()
for postings in index.values():                # a full scan at the end
    for name, _ in postings:
        per_file[name] += 1
print(len(docs), len(index), hits, per_file.most_common(1))

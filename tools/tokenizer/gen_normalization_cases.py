#!/usr/bin/env python3
"""Extracts a subset of the Unicode NormalizationTest.txt for zaya's NFC/NFD/NFKC/NFKD tests.

Keeps every line of parts 0, 2 and 3 and every 6th line of part 1 (character by character), in the
original format: five columns of space-separated hex code points (source; NFC; NFD; NFKC; NFKD).
Usage (Debian: apt-get install unicode-data):
    python3 tools/tokenizer/gen_normalization_cases.py /usr/share/unicode/NormalizationTest.txt.bz2 \
        > tests/data/tokenizer/normalization_cases.txt
"""
import bz2
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/unicode/NormalizationTest.txt.bz2"
opener = bz2.open if path.endswith(".bz2") else open
part, index = None, 0
print("# Subset of NormalizationTest.txt (Unicode Character Database): source;NFC;NFD;NFKC;NFKD")
with opener(path, "rt", encoding="utf-8") as f:
    for line in f:
        if line.startswith("@Part"):
            part = line.split()[0]
            index = 0
            continue
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        index += 1
        if part == "@Part1" and index % 6 != 0:
            continue
        print(";".join(line.split(";")[:5]))

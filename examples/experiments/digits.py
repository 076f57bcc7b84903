#!/usr/bin/env python3
"""Fetch scikit-learn's 8x8 handwritten digits (1797 x 64, pixel values 0..16) from the PyPI
wheel (downloaded with pip, not installed) and write them as a float32 .npy of shape
(1797, 8, 8), label column dropped. Pure standard library (no numpy needed).

usage: digits.py OUT.npy [WORKDIR]
"""
import glob, gzip, os, struct, subprocess, sys, zipfile

out = sys.argv[1]
work = sys.argv[2] if len(sys.argv) > 2 else "/tmp/skl"
os.makedirs(work, exist_ok=True)
wheels = glob.glob(os.path.join(work, "scikit_learn-*.whl"))
if not wheels:
    subprocess.check_call([sys.executable, "-m", "pip", "download", "--no-deps",
                           "--only-binary=:all:", "scikit-learn", "-d", work])
    wheels = glob.glob(os.path.join(work, "scikit_learn-*.whl"))
with zipfile.ZipFile(sorted(wheels)[-1]) as z:
    text = gzip.decompress(z.read("sklearn/datasets/data/digits.csv.gz")).decode()
rows = [[float(v) for v in line.split(",")] for line in text.splitlines() if line.strip()]
assert len(rows) == 1797 and all(len(r) == 65 for r in rows), (len(rows), len(rows[0]))
pixels = [v for r in rows for v in r[:64]]          # drop the label (last column)
header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1797, 8, 8), }"
pad = 64 - (10 + len(header) + 1) % 64
header = header + " " * pad + "\n"
os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
with open(out, "wb") as f:
    f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
    f.write(struct.pack("<%df" % len(pixels), *pixels))
print(f"wrote {out}: 1797 x 8 x 8 float32, values {min(pixels)}..{max(pixels)}")

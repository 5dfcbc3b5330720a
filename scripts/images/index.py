#!/usr/bin/env python3
"""Merge OUT/meta/*.json (one fragment per image, written by the image scripts) into OUT/index.json."""
import json
import os
import sys

out = sys.argv[1]
meta = os.path.join(out, "meta")
images = []
for f in sorted(os.listdir(meta)):
    if f.endswith(".json"):
        with open(os.path.join(meta, f)) as fh:
            d = json.load(fh)
        images.extend(d if isinstance(d, list) else [d])
for img in images:
    path = os.path.join(out, img["file"])
    if not os.path.exists(path):
        raise SystemExit("index: %s lists %s which was not built" % (img["name"], img["file"]))
with open(os.path.join(out, "index.json"), "w") as fh:
    json.dump({"version": 1, "images": images}, fh, indent=1)
    fh.write("\n")

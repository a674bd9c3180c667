"""Heap held by the Python reference's in-memory cache after loading each file.

usage: python pymem.py CACHE_FILE...  (tracemalloc of json.loads, which is what
msal's SerializableTokenCache.deserialize keeps)
"""
import json
import sys
import tracemalloc

for path in sys.argv[1:]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    tracemalloc.start()
    doc = json.loads(text)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print("%s: %d bytes file, %d KiB held by json.loads result" % (path, len(text), held // 1024))
    del doc

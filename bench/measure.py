#!/usr/bin/env python3
"""Run a command; print its wall time in seconds and peak RSS in KiB.

usage: measure.py CMD [ARGS...]   (stdout of CMD goes to /dev/null unless
                                   MEASURE_STDOUT names a file)
"""
import os
import resource
import subprocess
import sys
import time

out = os.environ.get("MEASURE_STDOUT")
with open(out or os.devnull, "wb") as f:
    t0 = time.monotonic()
    rc = subprocess.call(sys.argv[1:], stdout=f)
    dt = time.monotonic() - t0
if rc != 0:
    sys.exit(f"measure: {sys.argv[1:]} exited {rc}")
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")

"""On the ``PYTHONPATH`` of a benchmark's Prefect workers: their flow-run processes count their Prefect API
requests (``benchmarks/request_count.py``). Python imports ``sitecustomize`` at start-up, before any flow code."""

import os
import sys

if os.environ.get("EMUFLEET_BENCH_REQUESTS_DIR"):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import request_count

    request_count.count_to_file()

"""Parley's benchmarks: each prints figures and writes bench/results/<name>.json.

    python -m bench.run            # all of them, in sequence
    python -m bench.cold_start     # one at a time (each has --help)
    python -m bench.ddb_calls
    python -m bench.latency

Benchmarks print numbers; they never assert on time. Each starts the servers it
needs on 127.0.0.1, on free ports picked at run time, and stops them at the end.
"""

"""`chalice local`, tuned to serve like API Gateway: many clients, no Nagle delay.

    python -m infra.local.chalice_local --no-autoreload --stage local --port 8000

Exactly Chalice's own local server and CLI, with two changes. Its
ThreadedHTTPServer inherits socketserver's listen backlog of 5, so a burst of
more than a handful of simultaneous connections (50 concurrent sends, say) is
answered with connection resets before Chalice ever sees the requests. And
its request handler leaves Nagle's algorithm on (see below).
"""
from __future__ import annotations

import sys

import chalice.local
from chalice.cli import main as chalice_main

chalice.local.ThreadedHTTPServer.request_queue_size = 128
# chalice local writes headers and body in two writes; with Nagle on, a kept-open
# connection then waits ~40 ms for the delayed ACK of the first (measured: poll
# p50 48 ms -> 5 ms). API Gateway has no such delay, so neither should we.
chalice.local.ChaliceRequestHandler.disable_nagle_algorithm = True
# Worker threads must not keep a stopping server alive.
chalice.local.ThreadedHTTPServer.daemon_threads = True

if __name__ == "__main__":
    sys.argv = ["chalice", "local", *sys.argv[1:]]
    sys.exit(chalice_main())

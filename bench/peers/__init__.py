"""Issue 10's side-by-side benchmark: this project beside k6, a naive Locust file and a CPython floor.

    python -m bench.peers [--quick] [--peers ours,k6,naive,floor] [--workloads a,a10,b,c]

One independent echo server process (echo_server.py) on one core, each client peer on the
other, client CPU from the kernel's accounting of the client's whole process tree (measure.py),
each (peer, workload) run three times; the medians and the ratios ours/k6, ours/naive and
ours/floor are printed with issue 10's targets. Modules: workloads (what is measured, in which
unit), peers (how each client is run), measure (cgroup or /proc accounting), server (the target's
process), run (one measured run), report (medians, ratios, targets). bench/README.md records the
results. Nothing here imports loadtest beyond its public API (clients/ours_locustfile.py).
"""

"""Load generator and benchmarks for the invoice financing backend.

`python -m loadtest --help` drives a running server with registered users, racing investors and
WebSocket clients; `python -m loadtest.bench --help` runs the benchmarks of docs/benchmarks.md,
each beside its baseline, against a redis-server and app server it starts itself.
"""

"""What only a job server (`manage.py qcluster`) runs; web processes never import this package.

- `cluster`  django-q2's Cluster and Sentinel, with graceful shutdown and the permit of a dead worker.
- `broker`   the pusher's side: housekeeping between claims, permits taken, the claim, the package.
- `listener` LISTEN/NOTIFY, so an idle pusher wakes when a job is committed.
- `capacity` the permits: one per worker, shared by the server's processes.
- `worker`   a worker process: the self-claim chain after each job it finishes.
- `runner`   one job in a worker: fence, resolve, run (sync or async) under its time limit, outcome.
"""

"""The flow's one scale-out engine: Dask tasks on an embedded ``LocalCluster`` or on an existing cluster.

* :mod:`pyflow.cluster.client` -- the client: an embedded ``LocalCluster`` sized to the machine (one
  single-threaded worker process per core), or ``Client(address)`` for ``--scheduler tcp://HOST:PORT`` /
  ``DASK_SCHEDULER_ADDRESS``; checks that every worker runs the same flow sources.
* :mod:`pyflow.cluster.engine` -- runs a list of tasks: ``Client.submit(..., retries=...)``, a progress bar over
  ``as_completed``, the worker address and seconds of every task, task exceptions as one-line errors, clean
  cancellation on Ctrl-C.

Used by ``dse`` (:mod:`pyflow.synth.dse`) and ``regress`` (:mod:`pyflow.regress`).  Running on a cluster:
docs/CLUSTER.md.
"""

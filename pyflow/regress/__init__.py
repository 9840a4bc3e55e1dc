"""Config-matrix regression: ``make sim`` (kernels, chain, FLAT accelerator) for every config, as Dask tasks.

* :mod:`pyflow.regress.matrix` -- the client side: configs -> entries (cache key, output folder), one summary row
  per config (pass/fail from the report's ``ok``, kernels and chain positions matched, total predicted vs
  measured cycles, worker, seconds), the summary table and ``regress.json``;
* :mod:`pyflow.regress.task` -- the worker side: one config's simulation in a child process with its own build
  root (``FLATFLOW_BUILD``), so configs running at once on one machine never share a build folder;
* :mod:`pyflow.regress.child` -- that child: ``pyflow.sim.flow.run_sim`` with the options, report to a file.
"""

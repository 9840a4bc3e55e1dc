"""Op durations of the decode chain measured in PyTorch under ``torch.profiler`` (``golden profile``).

``ops`` is the chain as torch ops (one function per ``golden.llama.CHAIN_OPS`` op), ``step`` runs one
decode step op by op at the scheduler's granularity, ``run`` times it and writes ``profile.json`` (read by
``schedule --durations profile``) and torch.profiler's Chrome trace, ``cli`` is the command line.
"""

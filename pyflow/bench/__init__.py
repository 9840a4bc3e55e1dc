"""Benchmarks that compare FlatFlow's kernels with peers and write JSON under build/report/."""

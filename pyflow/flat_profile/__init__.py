"""FLAT runtime / memory profiler: sweep the unfused baseline against FLAT tiling.

Modules, one job each: :mod:`.config` (sweep settings and points), :mod:`.inputs` (random or file
Q/K/V), :mod:`.memory` (peak-memory prediction and the fit check), :mod:`.kernels` (NumPy golden /
torch backends; :mod:`.torch_attention` is the torch twin of ``golden.flat``), :mod:`.threads` (BLAS
thread count), :mod:`.measure` (timing and measured peaks), :mod:`.traffic` (FLAT paper's analytic
on-chip buffer / off-chip traffic model), :mod:`.summary` (target verdicts), :mod:`.writer` (atomic
CSV/JSON), :mod:`.plots` (PNG figures) and :mod:`.sweep` (the runner tying them together).
"""

"""Golden models: float64 and bit-accurate fixed-point references, FLAT tiling, cycle formulas.

Mathematics only: no file I/O beyond reading model configs/weights, no templates, no tools.
"""

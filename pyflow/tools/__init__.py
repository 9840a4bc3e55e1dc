"""One wrapper module per external tool (XLS, Verilator, ...)."""

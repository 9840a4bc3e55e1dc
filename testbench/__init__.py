"""cocotb testbenches and runner glue for the generated RTL."""

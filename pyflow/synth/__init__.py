"""Open-flow synthesis (Yosys + nextpnr), AMD resource estimates, reports, tables and DSE."""

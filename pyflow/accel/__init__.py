"""The decode accelerator: its building blocks' cycle models (hls/rtl/ holds their Verilog)."""

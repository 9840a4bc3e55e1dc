"""Host programs that run the decode accelerator's Vitis kernel (decode_step) on a card (XRT) or on any device
with the same protocol (pyflow/host/run.py)."""

"""Cycle counts recorded from the Verilated core (shared by the cycle-model and report tests).

Re-record them with ``sim.measure.measure_rtl(4, 4, ...)`` whenever a unit's latency changes.
"""

#: cycles measured on the Verilator core (4x4, default drain width: 1 lane, 4 cycles per result row, so
#: tiles with K < 16 are drain-bound; sim/benches/cycles_tb.py, full-rate streams)
MEASURED_4X4 = {(17, 96, 288): 34598, (17, 32, 17): 838, (1, 1, 1): 46, (5, 3, 9): 126, (33, 300, 7): 5438, (40, 64, 40): 6438, (9, 37, 11): 371, (17, 17, 32): 718, (1, 96, 10): 326, (8, 12, 8): 98, (12, 16, 4): 86}
MEASURED_DEMAX = {(51, 17): 907, (4, 32): 183}

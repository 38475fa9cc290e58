"""Cycle counts recorded from the Verilated core (shared by the cycle-model and report tests).

Re-record them with ``sim.measure.measure_rtl(4, 4, ...)`` whenever a unit's latency changes.
"""

#: cycles measured on the Verilator core (4x4, default drain width: 1 lane, 4 cycles per result row, so
#: tiles with K < 16 are drain-bound; sim/benches/cycles_tb.py, full-rate streams)
MEASURED_4X4 = {(17, 96, 288): 34600, (17, 32, 17): 840, (1, 1, 1): 48, (5, 3, 9): 128, (33, 300, 7): 5440, (40, 64, 40): 6440, (9, 37, 11): 373, (17, 17, 32): 720, (1, 96, 10): 328, (8, 12, 8): 100, (12, 16, 4): 88}
MEASURED_DEMAX = {(51, 17): 908, (4, 32): 184}
#: DeMax rows on the 16x16 core (4 keys per beat): (rows, row_len) -> cycles
MEASURED_DEMAX_16X16 = {(51, 17): 284, (4, 32): 64, (24, 197): 1274}

"""NAND2 gate-equivalent costs of Yosys' internal cells (shared by the area flow and the memory model)."""

#: NAND2 gate equivalents per Yosys internal cell (NAND2 = 1).
GE_COST = {
    "$_NOT_": 0.67, "$_BUF_": 0.0, "$_AND_": 1.33, "$_NAND_": 1.0, "$_OR_": 1.33, "$_NOR_": 1.0,
    "$_XOR_": 2.33, "$_XNOR_": 2.33, "$_ANDNOT_": 1.33, "$_ORNOT_": 1.33, "$_MUX_": 2.33, "$_NMUX_": 2.0,
    "$_AOI3_": 1.33, "$_OAI3_": 1.33, "$_AOI4_": 1.67, "$_OAI4_": 1.67,
}
FF_BASE_GE = 4.33  # plain D flip-flop
FF_ENABLE_GE = 1.0  # clock enable (E)
FF_RESET_GE = 0.67  # synchronous (SDFF*) or asynchronous (…_PP0 / PN1 …) reset/set
LATCH_GE = 3.0

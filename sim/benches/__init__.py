"""cocotb benches: each is driver(s) + monitor(s) + the contract's pure functions as the model."""

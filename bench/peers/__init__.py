"""The peers under benchmark: one task module per system, the probe they all call, producers."""

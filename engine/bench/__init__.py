"""`terrasim bench`: every speed benchmark in one run, terrasim beside its baselines.

One module per group of cases (kernels, optimizer, frontier, stress, generator); `runner`
selects and runs them, `report` writes the side-by-side table.
"""

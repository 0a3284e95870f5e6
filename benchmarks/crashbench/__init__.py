"""crashbench: crashcompat's side-by-side benchmark against Debian's crash and drgn's ``%crash``.

Run by ``make bench`` (``benchmarks/run.py``); see docs/performance.md for the method and the figures.
"""

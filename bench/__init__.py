"""Benchmark harness for incidentd: `python -m bench run` (see bench/README.md).

Not part of the test run and never imported by the product or by the tests' helpers.
"""

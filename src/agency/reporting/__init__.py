"""Reporting: metrics pulled from the networks, rolled up per day, read as a brand's report."""

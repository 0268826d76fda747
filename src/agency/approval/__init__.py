"""Approvals: who validates a brand's publications, in which steps, on which exact version."""

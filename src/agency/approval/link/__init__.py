"""Deciding from an e-mail: a single-use link per client approver and version, and its page."""

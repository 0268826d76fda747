"""What reports read beyond the networks: the client's results, costs, press coverage, and
reports saved with their commentary."""

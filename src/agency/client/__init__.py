"""Client members: the people of a client brand, and what they may do on it."""

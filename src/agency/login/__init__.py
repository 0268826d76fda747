"""How people sign in: e-mailed sign-in links, and identity providers per brand or agency."""

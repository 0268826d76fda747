"""Crisis mode per brand: the queue paused, decisions by the decision makers, a timeline."""

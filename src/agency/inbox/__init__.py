"""The inbox: comments under the brand's posts collected, triaged, answered, moderated."""

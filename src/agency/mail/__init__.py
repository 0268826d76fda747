"""Outgoing e-mail: rendered per locale, stored sealed, sent by a worker after the commit."""

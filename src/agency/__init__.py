"""agency: a multi-tenant backend for social-media agencies."""

__version__ = "0.1.0"

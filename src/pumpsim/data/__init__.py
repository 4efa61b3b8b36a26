"""Shipped data: device library, drug library, guideline profiles, rule catalogue."""

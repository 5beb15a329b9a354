"""Build stage: customers, touchpoints, sessions and orders from events and identity."""

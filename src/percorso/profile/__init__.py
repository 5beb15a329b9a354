"""The customer 360° view: find a person by any identifier and show everything they did."""

from percorso.profile.lookup import find_customer, lookup_values
from percorso.profile.view import CustomerProfile, customer_profile

__all__ = ["CustomerProfile", "customer_profile", "find_customer", "lookup_values"]

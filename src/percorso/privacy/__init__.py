"""Privacy by design (issue 19): consent per purpose, retention, erasure, subject access, the PII vault.

Other rooms call one function: :func:`percorso.privacy.consent.allowed` (who may be used for a
purpose at a moment, as an Ibis table of ``customer_id``). See docs/privacy.md.
"""

from percorso.privacy.settings import PURPOSES, privacy_settings

__all__ = ["PURPOSES", "privacy_settings"]

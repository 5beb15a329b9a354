"""Customer value: RFM, CLV (BG/NBD + Gamma-Gamma), churn risk, cohorts, segments.

Reads only the build tables ``orders``, ``customers``, ``touchpoints`` and ``campaign_costs``;
aggregates are computed in the engine, only grouped model inputs come out to numpy.
"""

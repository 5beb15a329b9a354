"""Rule-based segments: typed predicate trees stored as JSON, compiled to Ibis."""

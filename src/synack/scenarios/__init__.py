"""Named, runnable scenarios from SCENARIOS.md (``synack demo NAME``)."""

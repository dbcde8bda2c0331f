"""What each flow returns: one module per flow (results/push.py for flows/push.py), plain data
that report/ renders and github/ publishes, so neither needs to import the flows themselves."""

"""Per-chapter facts the hidden tests use: torch references, forbidden shortcuts and
hints for the known mistakes of each exercise. One module per chapter."""

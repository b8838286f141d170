"""HTTP edge: parse, authenticate, encode. No business rules live here."""

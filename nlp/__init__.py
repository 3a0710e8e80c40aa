"""kesheng's pure pipeline: text in, typed results out. No HTTP, no database, no environment."""

"""Where raw rows come from: export files, generated demo data (and, later, events)."""

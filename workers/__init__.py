"""Worker programs: thin loops over functions of the core (validate, and more as the design needs)."""

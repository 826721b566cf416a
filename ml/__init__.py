"""Machine learning on simulated and real patients: stratification, risk, audits. Uses qsp, never the reverse."""

"""Probes of the research agent itself: perturbations of real runs and scores read from their audit logs."""

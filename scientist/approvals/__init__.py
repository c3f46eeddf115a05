"""Human-in-the-loop approvals: gates (langgraph interrupts), the per-run approvals store, budget stops."""

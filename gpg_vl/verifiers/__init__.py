"""Rule-based reward verifiers (issue 3): one module per verifier over one parsing layer."""

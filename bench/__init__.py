"""PromptGate's load harness: mock upstreams, load runners, scenarios and the report (`make bench`)."""

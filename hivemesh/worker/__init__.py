"""The worker role: stages that run subtasks and hand outputs to the next peer."""

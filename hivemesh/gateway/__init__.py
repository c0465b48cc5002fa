"""The gateway role: jobs in, plans placed as pipelines, answers out; shared state in the store."""

"""The audit trail: the hash-chained JSONL log of everything a run does (`log`), one pydantic model per record kind
(`events`), and the log's anchor outside the run folder (`anchor`)."""

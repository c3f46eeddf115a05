"""Model calls: the gateway every stage calls (`gateway`), the providers it routes to (`providers`, the embedded
`local_model`), each model's limits and prices (`profiles`), its structured-output form (`structured`), and the stored
text of one call (`call_record`). litellm and llama_cpp are imported here and nowhere else."""

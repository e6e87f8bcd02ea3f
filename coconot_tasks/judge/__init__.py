"""The judge: settings, prompt, verdict parsing, engine, backends, cache, retries, pricing, preflight."""

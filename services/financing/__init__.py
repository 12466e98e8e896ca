"""financing: a live per-clinic projection of attachments, visits and insured status."""

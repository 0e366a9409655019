"""Process insight: how each form's requests really run, for admins, compliance and step groups."""

"""One module per `replay` verb; each exports COMMAND (a click command)."""

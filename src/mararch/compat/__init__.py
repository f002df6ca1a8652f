"""Drop-in Python APIs of other tools, on mararch's engine (`mararch.compat.model_archiver`)."""

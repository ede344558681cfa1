"""Package data of the app (icon, stylesheet), read with importlib.resources in every install mode."""

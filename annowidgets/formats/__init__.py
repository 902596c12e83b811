"""One module per format, each registering a FormatSpec with :mod:`.registry`."""

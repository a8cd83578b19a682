"""Icons, stylesheet and the bundled sample clip."""

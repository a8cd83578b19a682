"""Qt widgets: display and forward only."""

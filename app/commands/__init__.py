"""One module per `endodepth` sub-command, each with `add_arguments(parser)` and `run(args)`."""

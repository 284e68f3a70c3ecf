"""The CLI glue of ``nsscope run``, ``stop``, ``kill``, ``rm``, ``logs`` and ``gc``: one
module per subcommand, each with ``add_arguments(parser)`` and ``run(args) -> int``."""

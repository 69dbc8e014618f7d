"""``python -m cli ...`` is the ``adapterx`` command, for launchers that start modules, e.g.
``accelerate launch --multi_gpu --num_processes 4 -m cli train-target xnli ...``."""

from cli.main import main

main()

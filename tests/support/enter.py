"""What the enter fast path may import."""

from __future__ import annotations

#: what the enter path may import of nsscope: the CLI's front, the action and its
#: light readers (each must exist: a rename fails here instead of passing vacuously)
ENTER_PATH = ("nsscope", "nsscope.cli", "nsscope.cli.enter", "nsscope.errors", "nsscope.actions",
              "nsscope.actions.enter", "nsscope.host", "nsscope.host.targets",
              "nsscope.host.target",
              # a bare PID is checked against containers' names and ids (quick index)
              "nsscope.host.candidates", "nsscope.host.naming", "nsscope.host.runstate",
              "nsscope.records",
              "nsscope.host.processes", "nsscope.host.mountinfo", "nsscope.kernel",
              "nsscope.kernel.syscalls", "nsscope.kernel.abi", "nsscope.kernel.tty",
              "nsscope.kernel.exeseal")

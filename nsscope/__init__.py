"""nsscope: see a Linux host the way the kernel sees it.

The core package (everything outside ``nsscope.tui``) never imports Textual.
"""

__version__ = "0.1.0"

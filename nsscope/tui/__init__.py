"""The Textual TUI (``nsscope`` with no command). The only package that imports textual."""

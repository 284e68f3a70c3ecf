"""Views: turn a ``Snapshot`` into tables, trees and JSON. They never read /proc."""

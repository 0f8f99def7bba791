"""The domain rules: pure functions and classes, no I/O, testable by the thousand."""

"""An app module that cannot be imported."""

raise RuntimeError("narwhal-test-broken-import")

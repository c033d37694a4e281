"""The documentation site's build-side code: the generated reference pages, the offline Mermaid asset, MkDocs hooks."""

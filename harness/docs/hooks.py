"""MkDocs hooks (mkdocs.yml `hooks:`): the site serves its own Mermaid, so it works without internet."""

from typing import Any

from mkdocs.structure.files import File, Files

from harness.docs import mermaid

MERMAID_PATH = "assets/javascripts/mermaid.min.js"  # mkdocs.yml's extra_javascript names it


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, MERMAID_PATH, abs_src_path=str(mermaid.script())))
    return files

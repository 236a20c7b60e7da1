"""References generated from the code for the documentation site (`docs/`): recipe keys from the
configuration dataclasses, commands and options from the command lines, user errors from their
`raise` sites. Generated at `mkdocs build`, so they cannot drift from the code."""

# docs/PROTOCOL.md is the normative protocol as shipped with the sources; it
# must stay identical to the project's shared design copy (../shared) when
# that is checked out beside the repository, as in CI.
LINT_TARGETS += lint-docs

.PHONY: lint-docs
## lint-docs: docs/PROTOCOL.md is identical to ../shared/PROTOCOL.md (when present)
lint-docs:
	@if [ -f ../shared/PROTOCOL.md ]; then \
	  cmp -s docs/PROTOCOL.md ../shared/PROTOCOL.md || \
	  { echo "docs/PROTOCOL.md differs from ../shared/PROTOCOL.md: copy the shared one"; exit 1; }; \
	else echo "lint-docs: no ../shared beside the repository; not compared"; fi

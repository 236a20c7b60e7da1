"""Stage 6, benchmarking: `kdedge bench` timing artifacts and teachers side by side (`runner`), the
machine fingerprint and matmul peak (`machine`), and the tables and plots it writes (`report`,
`schema.json` for its JSON).

Reads the teacher and export stages.
"""

import sys
import types


class _CallablePackage(types.ModuleType):
    """`kdedge.bench` names this package and the API function `kdedge.bench(...)` (`runner.bench`): once a
    submodule is imported, Python binds the package to `kdedge.bench`, so calling the package calls it."""

    def __call__(self, *args, **kwargs):
        from kdedge.bench.runner import bench

        return bench(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

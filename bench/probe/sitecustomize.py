"""Measurement probe (not part of ConvScope): notes every LiteRT conversion and build in the process, with its pid."""
import os
import sys
import time

OUT = os.environ.get("CONVSCOPE_PROBE")
if OUT:
    import importlib.abc
    import importlib.machinery

    def _log(kind, t0, t1):
        with open(OUT, "a") as f:
            f.write(f"{os.getpid()} {kind} {t0:.3f} {t1:.3f}\n")

    class _Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name != "model_store.litert":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            run = spec.loader.exec_module

            def exec_module(module):
                run(module)
                convert, build = module._convert, module.build

                def _convert(probe):
                    t = time.time()
                    r = convert(probe)
                    _log("convert", t, time.time())
                    return r

                def _build(*a, **k):
                    t = time.time()
                    r = build(*a, **k)
                    _log("built" if r is not None else "none", t, time.time())
                    return r
                module._convert, module.build = _convert, _build
            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, _Hook())

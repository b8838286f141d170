"""Builds the optional C part of the effect chain (src/chorus/audio/_effects_native.c).

Everything else about the package is in pyproject.toml. The extension is optional: without a C compiler
the install goes on and the chain runs its Python code, which gives the same bytes.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "chorus.audio._effects_native",
            sources=["src/chorus/audio/_effects_native.c"],
            # No fused multiply-add and no fast-math: the C code must round exactly as Python does.
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c99"],
            libraries=["m"],
            optional=True,
        )
    ]
)

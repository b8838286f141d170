"""Builds the optional C part of the effect chain (src/chorus/audio/_effects_native.c).

Everything else about the package is in pyproject.toml. The extension is optional: without a C compiler
the install goes on and the chain runs its Python code, which gives the same bytes.
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

SOURCE = "src/chorus/audio/_effects_native.c"
# The library records which source it was built from; the loader refuses one built from another version
# (chorus.audio.effects_native.source_digest computes the same digest).
DIGEST = hashlib.sha256((Path(__file__).parent / SOURCE).read_bytes()).hexdigest()[:16]

setup(
    ext_modules=[
        Extension(
            "chorus.audio._effects_native",
            sources=[SOURCE],
            define_macros=[("CHORUS_FX_SOURCE", f'"{DIGEST}"')],
            # No fused multiply-add and no fast-math: the C code must round exactly as Python does.
            extra_compile_args=["-O3", "-ffp-contract=off", "-fno-fast-math", "-std=c99"],
            libraries=["m"],
            optional=True,
        )
    ]
)

"""Build the native core: cffi out-of-line API mode, build script in csrc/ (outside the package)."""

from setuptools import setup

setup(cffi_modules=["csrc/build_ffi.py:ffi"])

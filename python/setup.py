"""Installs ``edgeclass`` (the ctypes binding) and ``greengrass_machine_learning_sdk`` (the
drop-in SDK). Pure Python, for Python 2.7 and 3.x: ``pip install ./python``.

The shared library is not built here (``cargo build --release`` builds it). To ship it inside
the installed package, name it at install time::

    EDGECLASS_BUNDLE_LIBRARY=target/release/libedgeclass.so pip install ./python

Otherwise the package finds it through ``EDGECLASS_LIBRARY`` or the system's library path.
"""

import io
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py


class build_py_with_library(build_py):
    """``build_py`` that also copies ``$EDGECLASS_BUNDLE_LIBRARY`` into ``edgeclass/``."""

    def run(self):
        build_py.run(self)
        package = os.path.join(self.build_lib, 'edgeclass')
        here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'edgeclass')
        for name in os.listdir(package):
            # a library bundled by an earlier build must not slip into this one
            if name.endswith(('.so', '.dylib', '.dll')) and not os.path.exists(
                    os.path.join(here, name)):
                os.remove(os.path.join(package, name))
        library = os.environ.get('EDGECLASS_BUNDLE_LIBRARY')
        if library:
            if not os.path.isfile(library):
                raise SystemExit('EDGECLASS_BUNDLE_LIBRARY=%s: no such file' % library)
            target = os.path.join(self.build_lib, 'edgeclass', os.path.basename(library))
            self.announce('bundling %s as %s' % (library, target), level=2)
            shutil.copyfile(library, target)
            os.chmod(target, 0o755)


here = os.path.dirname(os.path.abspath(__file__))
with io.open(os.path.join(here, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()


def _package_version():
    """``edgeclass.__version__`` (Cargo.toml's version; tests/version.rs checks), read without
    importing the package."""
    with io.open(os.path.join(here, 'edgeclass', '__init__.py'), encoding='utf-8') as f:
        for line in f:
            if line.startswith('__version__ = '):
                return line.split('=', 1)[1].strip().strip('\'"')
    raise SystemExit('edgeclass/__init__.py has no __version__')


setup(
    name='edgeclass',
    version=_package_version(),
    description=('Image classification with SageMaker image-classification models, without '
                 'MXNet: a drop-in greengrass_machine_learning_sdk over libedgeclass'),
    long_description=long_description,
    long_description_content_type='text/markdown',
    license='MIT OR Apache-2.0',
    packages=['edgeclass', 'greengrass_machine_learning_sdk'],
    package_data={'edgeclass': ['*.so', '*.dylib', '*.dll']},
    python_requires='>=2.7, !=3.0.*, !=3.1.*, !=3.2.*, !=3.3.*, !=3.4.*',
    zip_safe=False,
    cmdclass={'build_py': build_py_with_library},
    classifiers=[
        'Programming Language :: Python :: 2.7',
        'Programming Language :: Python :: 3',
        'Operating System :: POSIX :: Linux',
    ],
)

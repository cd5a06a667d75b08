"""tfc-repro: reference reproductions of learned image compression papers."""

import setuptools

setuptools.setup(
    name="tfc_repro",
    version="0.1.0",
    description="Reproductions of learned image compression papers on "
                "TensorFlow Compression: training, real bitstreams, Kodak RD "
                "tables and figures next to classical codecs.",
    packages=["tfc_repro"],
    # The shipped models (python -m tfc_repro.zoo): weights and records.
    package_data={"tfc_repro": ["zoo/*/*/*"]},
    python_requires="==3.11.*",
    install_requires=[
        "tensorflow==2.14.1",
        "tensorflow-compression==2.14.1",
        "tensorflow-datasets==4.9.3",
        # tfds 4.9.3 would otherwise pull protobuf>=5, which breaks TF 2.14.
        # (scripts/env.sh then installs the compiled protobuf 4.25 over
        # tensorflow-metadata 1.14.0's pure-Python 3.20.3.)
        "protobuf<5",
        "tensorflow-metadata==1.14.0",
        "absl-py",
        "numpy<2",
        "Pillow>=11.2",  # AVIF built in
        "scipy",
        "pillow-heif>=0.16",
        # JPEG XL (libjxl 0.11.1); pinned: the measured curve depends on it.
        "imagecodecs==2026.1.14",
        "matplotlib",
        "bjontegaard",
        # The embedded default training photos ship inside scikit-image.
        "scikit-image",
    ],
    # pytest 9 stores test ids where pytest-xdist 3.8 does not look: its
    # --dist loadgroup (scripts/test.sh) would not group tests.
    extras_require={"test": ["pytest>=8,<9", "pytest-xdist"]},
)

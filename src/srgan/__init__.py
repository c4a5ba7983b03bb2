"""SRGAN reproduction library (Ledig et al., CVPR 2017, arXiv:1609.04802).

The Snakemake workflow in this repository calls the functions of these modules through thin
scripts; the library itself never reads the workflow config.
"""

__version__ = "0.1.0"

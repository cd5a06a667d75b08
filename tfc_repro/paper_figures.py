"""What each paper's figures show, as data; `tfc_repro.figures` draws them.

Each paper (a registered system, or "codecs") has a `Paper`: a help line,
its figures and the tables written beside them (names of
`tfc_repro.report.TABLES`). A `Figure` declares

  name       the output files, <name>.png and <name>.pdf
  title      the title of its panels ("<title>: PSNR", ...)
  measured   curves of the CPU reproduction, results/kodak/cpu/<name>.json,
             as (name, colour family)
  codecs     classical codecs, results/kodak/<codec>.json
  published  (key of `tfc_repro.published.CURVES`, colour family)
  panels     one panel per metric that some curve has values of: "psnr",
             "ms-ssim" (in dB), any results key (e.g. "bpp-z"), or
             "share:<key>" (that key as a percentage of the total rate)
  max_bpp    the rate axis' end (None: as far as the curves go)
  notes      lines written on the figure
  takes_added  whether runs given with --add join this figure

A registered system without an entry here simply has no figure.
"""

import collections

Figure = collections.namedtuple(
    "Figure", "name title measured codecs published panels max_bpp notes "
    "takes_added",
    defaults=((), (), (), ("psnr", "ms-ssim"), 2.2, (), True))
Paper = collections.namedtuple("Paper", "help figures tables",
                               defaults=((),))

# The published VTM curve of the figures: CompressAI's has PSNR and MS-SSIM
# (lossy-vae's VTM 18.0, PSNR only, stands beside QRes-VAE in hcae's).
VTM = ("vtm-compressai", "vtm")

# Preferred colour of each family: the first curve of a family in a figure
# takes it, later ones the first colour of plotting.PALETTE not used there.
COLORS = {
    "bls2017": "#1f3b8a", "bmshj2018-factorized": "#17becf",
    "bmshj2018-hyperprior": "#1f77b4", "bmshj2018-meanscale": "#d95f02",
    "lee2019": "#2ca02c", "hcae": "#e377c2", "minnen2018": "#7f7f7f",
    "jpeg": "#8c564b", "jpeg444": "#c49c94", "webp": "#bcbd22",
    "jpeg2000": "#9467bd", "avif": "#ff7f0e", "hevc444": "#d62728",
    "hevc420": "#ff9896", "regularized": "#2ca02c", "baseline": "#7f7f7f",
    "jpegxl": "#6a3d9a", "vtm": "#000000",
}
# Axis label and panel title of each metric (others: the metric's name).
METRIC_AXES = {"psnr": "PSNR (dB, RGB)",
               "ms-ssim": "MS-SSIM (dB) = -10 log10(1 - MS-SSIM)",
               "bpp-z": "side information bpp (z)",
               "share:bpp-z": "side information (% of total rate)"}
PANEL_TITLES = {"psnr": "PSNR", "ms-ssim": "MS-SSIM",
                "bpp-z": "side information",
                "share:bpp-z": "share of the total rate"}

FACTORIZED = ("bmshj2018-factorized", "bmshj2018-factorized")
HYPERPRIOR = ("bmshj2018-hyperprior", "bmshj2018-hyperprior")
MEANSCALE = ("bmshj2018-meanscale", "bmshj2018-meanscale")

PAPERS = {
    "bls2017": Paper(
        "Ballé et al. 2017: bls2017 against JPEG, JPEG 2000 and VTM",
        (Figure("bls2017", "bls2017 on Kodak",
                measured=(("bls2017", "bls2017"),),
                codecs=("jpeg", "jpeg2000"),
                published=(("balle2017-mse", "bls2017"), ("jpeg420", "jpeg"),
                           ("j2k-opj", "jpeg2000"), VTM)),)),
    "bmshj2018": Paper(
        "Ballé et al. 2018 Fig. 5 (RD) and Fig. 7 (side information)",
        (Figure("bmshj2018-fig5", "bmshj2018 Fig. 5, Kodak",
                measured=(FACTORIZED, HYPERPRIOR, MEANSCALE),
                codecs=("jpeg", "jpeg2000", "webp", "hevc444"),
                published=(
                    ("balle2018-hyperprior-mse", "bmshj2018-hyperprior"),
                    ("balle2018-hyperprior-msssim", "bmshj2018-hyperprior"),
                    ("balle2017-mse", "bmshj2018-factorized"),
                    ("balle2017-msssim", "bmshj2018-factorized"),
                    ("compressai-bmshj2018-hyperprior-mse",
                     "bmshj2018-hyperprior"),
                    ("compressai-bmshj2018-hyperprior-ms-ssim",
                     "bmshj2018-hyperprior"),
                    ("compressai-bmshj2018-factorized-mse",
                     "bmshj2018-factorized"),
                    ("compressai-bmshj2018-factorized-ms-ssim",
                     "bmshj2018-factorized"),
                    ("compressai-mbt2018-mean-mse", "bmshj2018-meanscale"),
                    ("bpg444", "hevc444"), VTM),
                notes=("Published factorized-prior curves: TFC's Ballé 2017 "
                       "files (the same numbers as CompressAI's official "
                       "bmshj2018-factorized). Mean-scale: CompressAI's "
                       "mbt2018-mean.",)),
         Figure("bmshj2018-fig7", "bmshj2018 Fig. 7",
                measured=(HYPERPRIOR, MEANSCALE),
                panels=("bpp-z", "share:bpp-z"), max_bpp=None,
                notes=("No published numbers for Fig. 7.",),
                takes_added=False))),
    "lee2019": Paper(
        "Lee et al. 2019 Fig. 5 (PSNR and MS-SSIM) and the BD-rate table",
        (Figure("lee2019-fig5", "lee2019 Fig. 5, Kodak",
                measured=(("lee2019", "lee2019"), MEANSCALE, HYPERPRIOR),
                codecs=("hevc444", "jpeg2000"),
                published=(
                    ("lee2019-mse", "lee2019"), ("lee2019-ms-ssim", "lee2019"),
                    ("balle2018-hyperprior-mse", "bmshj2018-hyperprior"),
                    ("balle2018-hyperprior-msssim", "bmshj2018-hyperprior"),
                    ("minnen2018-mse", "minnen2018"),
                    ("minnen2018-msssim", "minnen2018"),
                    ("compressai-mbt2018-mean-mse", "bmshj2018-meanscale"),
                    ("bpg444", "hevc444"), ("j2k-opj", "jpeg2000"), VTM),
                max_bpp=2.0),),
        tables=("lee2019",)),
    "hcae": Paper(
        "HCAE report Fig. 6: rate-PSNR of JPEG, BLS (bls2017), HCAE and the "
        "bmshj2018 hyperprior at one CPU budget, QRes-VAE and VTM",
        (Figure("hcae-fig6", "hcae report Fig. 6, Kodak",
                measured=(("hcae", "hcae"), ("bls2017", "bls2017"),
                          HYPERPRIOR),
                codecs=("jpeg",),
                published=(("qres-vae", "hcae"), ("balle2017-mse", "bls2017"),
                           ("jpeg420", "jpeg"), ("vtm18", "vtm")),
                max_bpp=2.0,
                notes=("Solid: hcae, bls2017 and the bmshj2018 hyperprior of "
                       "the CPU reproduction (one recipe, data and budget: "
                       "scripts/reproduce_cpu.sh). The HCAE report publishes "
                       "no numeric RD data.",)),),
        tables=("hcae",)),
    "regularized": Paper(
        "Zhang et al. 2024: regularized against plain backbones (RD curves, "
        "BD-rate chart and table)",
        (Figure("regularized-rd", "regularized vs plain, Kodak",
                measured=tuple(
                    (f"regularized-{backbone}{arm}", family)
                    for backbone in ("bmshj2018-meanscale", "lee2019")
                    for arm, family in (("", "regularized"),
                                        ("-plain-a", "baseline"),
                                        ("-plain-b", "baseline"))),
                published=(("compressai-mbt2018-mean-mse", "baseline"),
                           ("compressai-mbt2018-mse", "baseline")),
                notes=("regularized-B: trained with the regularizer; "
                       "-plain-a: the plain backbone B on the same data "
                       "order; -plain-b: on another order (their distance is "
                       "the noise floor). Published: CompressAI's pretrained "
                       "backbones.",)),),
        tables=("regularized",)),
    "codecs": Paper(
        "All classical codecs (measured) with the published anchors and VTM",
        (Figure("codecs", "Classical codecs on Kodak",
                codecs=("jpeg", "jpeg444", "webp", "jpeg2000", "avif",
                        "hevc444", "hevc420", "jpegxl"),
                published=(("jpeg420", "jpeg"), ("compressai-jpeg", "jpeg"),
                           ("j2k-opj", "jpeg2000"),
                           ("compressai-jpeg2000", "jpeg2000"),
                           ("webp", "webp"), ("compressai-webp", "webp"),
                           ("bpg444", "hevc444"),
                           ("compressai-bpg444", "hevc444"),
                           ("bpg420", "hevc420"), VTM)),)),
}

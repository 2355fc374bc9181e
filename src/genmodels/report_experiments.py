"""The experiments the report command runs: each one's config (``configs/experiment/<name>.yaml``), the figures of
its run published under names that say what they show, and what the course report said of it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReportExperiment:
    """One experiment config and the report figures it reproduces."""

    name: str
    figures: dict[str, str]  # report figure file name -> PNG inside the run folder
    claim: str  # what the report said about this result


EXPERIMENTS = {
    experiment.name: experiment
    for experiment in (
        ReportExperiment(
            "report_vae_latent20",
            {
                "fig1_elbo_curve_latent20.png": "figures/curves.png",
                "fig3_samples_bernoulli_latent20.png": "figures/samples_by_epoch_bernoulli.png",
                "fig5_samples_mean_latent20.png": "figures/samples_by_epoch_mean.png",
            },
            "The ELBO improves over 40 epochs (fig. 1, no value given); latent-20 samples look less "
            "meaningful than latent-2 ones at the same epochs (figs. 3, 5).",
        ),
        ReportExperiment(
            "report_vae_latent2",
            {
                "fig2_samples_bernoulli_latent2.png": "figures/samples_by_epoch_bernoulli.png",
                "fig4_samples_mean_latent2.png": "figures/samples_by_epoch_mean.png",
                "fig6_manifold_latent2.png": "figures/manifold.png",
                "extra_latent_scatter_latent2.png": "figures/latent_scatter.png",
            },
            "Samples improve from epoch 1 to 40; Bernoulli draws are sharper but noisier (figs. 2, 4); "
            "the 2-D manifold morphs smoothly between digits, blurry in low-density corners (fig. 6).",
        ),
        ReportExperiment(
            "report_dcgan",
            {  # not named after the report's figs. 8 and 9: the presets shorter than `report` train fewer epochs
                "dcgan_samples_by_epoch.png": "figures/samples_by_epoch_mean.png",
                "dcgan_interpolation.png": "figures/interpolation.png",
            },
            "Meaningful digits after 5 epochs and 'quite impressive' ones after 40 (fig. 8); "
            "interpolation turns one digit into another, e.g. a 6 into a 4 (fig. 9).",
        ),
        ReportExperiment(
            "cpu_gan",
            {
                "cpu_gan_samples.png": "figures/samples_by_epoch_mean.png",
                "cpu_gan_interpolation.png": "figures/interpolation.png",
            },
            "(not in the report) the best GAN genmodels trains on 2 CPU cores in under half an hour: the lean "
            "networks of Lucic et al. 2018, the report's soft noisy labels, Adam at 8e-4 for both networks and a "
            "moving average of the generator (docs/experiments.md, The GAN on a CPU).",
        ),
        ReportExperiment(
            "cpu_cgan",
            {
                "cpu_cgan_samples_by_class.png": "figures/samples_by_epoch_mean.png",
                "cpu_cgan_interpolation_within_class.png": "figures/interpolation.png",
            },
            "(not in the report) cpu_gan asked for a digit (Mirza & Osindero 2014): the label one-hot beside z in the "
            "generator, a projection discriminator (Miyato & Koyama 2018) and one-sided label smoothing; a row of "
            "the grid per class asked for, a column per code, and interpolation between two codes within a class "
            "(docs/models.md, Class-conditional models).",
        ),
        ReportExperiment(
            "cvae",
            {
                "cvae_samples_by_class.png": "figures/samples_by_epoch_mean.png",
                "cvae_analogies.png": "figures/analogies.png",
                "cvae_interpolation_within_class.png": "figures/interpolation.png",
            },
            "(not in the report) the report's VAE (latent 20) given the label in its encoder and decoder (Sohn et "
            "al. 2015): a row of the grid per class asked for; the analogies decode each test image's code under "
            "every label (Kingma et al. 2014), its style kept where the code leaves the class to the label.",
        ),
    )
}

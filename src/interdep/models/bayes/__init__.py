"""Bayesian (MCMC) estimators on one sampler core (:mod:`interdep.models.bayes.core`)."""

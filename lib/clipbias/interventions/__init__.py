"""Interventions on models and data: training, balancing, debiasing, adaptation."""

"""Backbones, one module per family: ``cnn`` (small CNN), ``resnet`` (ResNet-32), ``text`` (token models
and a linear head over sentence embeddings), ``mlp`` (tabular rows and text feature vectors).

A backbone builder takes an :class:`~benchmark.training.features.InputSpec` and the number of
classes and returns a :class:`Backbone`: ``features`` (input -> penultimate embedding) and ``head``
(the last ``nn.Linear``). Stage schedules freeze or re-initialise the head; EOS and cRT use the
embedding.
"""

from benchmark.models.base import Backbone, build_model, model_registry, register_model

__all__ = ["Backbone", "build_model", "model_registry", "register_model"]

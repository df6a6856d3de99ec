"""The synthetic zoo: tiny open_clip CLIPs trained on the synthetic world, one job per module.

- :mod:`~clipbias.zoo.synthetic.architectures`: the tiny architectures (``TINY_CONFIGS``), their
  registration with open_clip and fresh models;
- :mod:`~clipbias.zoo.train_config`: the training settings that enter a checkpoint key
  (``TrainConfig``, ``ZOO_TRAIN``; plain data, at zoo level);
- :mod:`~clipbias.zoo.synthetic.checkpoints`: checkpoint keys, folders and metadata sidecars;
- :mod:`~clipbias.zoo.synthetic.zoos`: the zoo profiles (``ZOOS``, ``ZooEntry``, ``zoo_entries``);
- :mod:`~clipbias.zoo.synthetic.ids`: model ids (``"ARCH/DATASET_sSEED"``, ``"ARCH/run-<16 hex>"``)
  and loading a trained checkpoint;
- :mod:`~clipbias.zoo.synthetic.catalog`: the catalog rows of a zoo profile.

:mod:`clipbias.interventions.train` writes the checkpoints. Import from the modules; this package
file imports nothing, so importing one module does not pull the others in.
"""

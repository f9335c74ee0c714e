"""Data in and out of a campaign the way the field exchanges it (issue 18).

- :mod:`~perovflow.exchange.extxyz`: extended XYZ that reads back bit for bit.
- :mod:`~perovflow.exchange.dataset`: a campaign's training, test and active-learning sets.
- :mod:`~perovflow.exchange.card`: a stored model as ``.npz`` plus a JSON card.
- :mod:`~perovflow.exchange.export`: all of them into a folder (``perovflow export``).
- :mod:`~perovflow.exchange.imports`: published datasets into the store (``perovflow import``).
- :mod:`~perovflow.exchange.loading`: :func:`perovflow.load_model`, an ASE calculator from either.
"""

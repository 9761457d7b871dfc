"""The content-recommendation example: 20 Newsgroups data, its preparation, and recommendation quality measures.

Modules, one concern each:

* ``recommender.newsgroups``: read the 20news-bydate archive (offline) in scikit-learn's order.
* ``recommender.prepare``: the tutorial's data preparation (clean, lemmatize, count, drop short documents, shuffle,
  split, RecordIO-protobuf shards, ``vocab.txt``), cached.
* ``recommender.quality``: precision@k of recommendations, TF-IDF and LDA k-NN baselines, NPMI and topic uniqueness.
"""

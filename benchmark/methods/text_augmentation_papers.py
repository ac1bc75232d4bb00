"""BibTeX of the text-augmentation papers and tools."""

NLPAUG_BIB = """@misc{ma2019nlpaug,
  title={{NLP} Augmentation},
  author={Ma, Edward},
  howpublished={\\url{https://github.com/makcedward/nlpaug}}, year={2019}}"""

NOISE_BIB = """@inproceedings{belinkov2018synthetic,
  title={Synthetic and Natural Noise Both Break Neural Machine Translation},
  author={Belinkov, Yonatan and Bisk, Yonatan},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2018}}"""

EDA_BIB = """@inproceedings{wei2019eda,
  title={{EDA}: Easy Data Augmentation Techniques for Boosting Performance on Text Classification Tasks},
  author={Wei, Jason and Zou, Kai},
  booktitle={Proceedings of the 2019 Conference on Empirical Methods in Natural Language Processing and the
    9th International Joint Conference on Natural Language Processing (EMNLP-IJCNLP)}, pages={6382--6388},
  year={2019}}"""

BACK_TRANSLATION_BIB = """@inproceedings{sennrich2016improving,
  title={Improving Neural Machine Translation Models with Monolingual Data},
  author={Sennrich, Rico and Haddow, Barry and Birch, Alexandra},
  booktitle={Proceedings of the 54th Annual Meeting of the Association for Computational Linguistics (ACL)},
  pages={86--96}, year={2016}}"""

CONTEXTUAL_BIB = """@inproceedings{kobayashi2018contextual,
  title={Contextual Augmentation: Data Augmentation by Words with Paradigmatic Relations},
  author={Kobayashi, Sosuke},
  booktitle={Proceedings of the 2018 Conference of the North American Chapter of the Association for
    Computational Linguistics (NAACL-HLT)}, pages={452--457}, year={2018}}"""

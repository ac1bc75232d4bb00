"""BibTeX of the image-augmentation papers (kept apart so the method modules stay readable)."""

KRIZHEVSKY_BIB = """@inproceedings{krizhevsky2012imagenet,
  title={{ImageNet} Classification with Deep Convolutional Neural Networks},
  author={Krizhevsky, Alex and Sutskever, Ilya and Hinton, Geoffrey E.},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={25}, pages={1097--1105},
  year={2012}}"""

SHORTEN_BIB = """@article{shorten2019survey,
  title={A Survey on Image Data Augmentation for Deep Learning},
  author={Shorten, Connor and Khoshgoftaar, Taghi M.},
  journal={Journal of Big Data}, volume={6}, number={1}, pages={60}, year={2019}}"""

SIMARD_BIB = """@inproceedings{simard2003best,
  title={Best Practices for Convolutional Neural Networks Applied to Visual Document Analysis},
  author={Simard, Patrice Y. and Steinkraus, Dave and Platt, John C.},
  booktitle={International Conference on Document Analysis and Recognition (ICDAR)}, pages={958--963},
  year={2003}}"""

HE_BIB = """@inproceedings{he2016deep,
  title={Deep Residual Learning for Image Recognition},
  author={He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition (CVPR)}, pages={770--778},
  year={2016}}"""

SZEGEDY_BIB = """@inproceedings{szegedy2015going,
  title={Going Deeper with Convolutions},
  author={Szegedy, Christian and Liu, Wei and Jia, Yangqing and Sermanet, Pierre and Reed, Scott and
    Anguelov, Dragomir and Erhan, Dumitru and Vanhoucke, Vincent and Rabinovich, Andrew},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition (CVPR)}, pages={1--9}, year={2015}}"""

HOWARD_BIB = """@article{howard2013some,
  title={Some Improvements on Deep Convolutional Neural Network Based Image Classification},
  author={Howard, Andrew G.},
  journal={arXiv preprint arXiv:1312.5402}, year={2013}}"""

SIMCLR_BIB = """@inproceedings{chen2020simple,
  title={A Simple Framework for Contrastive Learning of Visual Representations},
  author={Chen, Ting and Kornblith, Simon and Norouzi, Mohammad and Hinton, Geoffrey},
  booktitle={International Conference on Machine Learning (ICML)}, pages={1597--1607}, year={2020}}"""

CUTOUT_BIB = """@article{devries2017improved,
  title={Improved Regularization of Convolutional Neural Networks with Cutout},
  author={DeVries, Terrance and Taylor, Graham W.},
  journal={arXiv preprint arXiv:1708.04552}, year={2017}}"""

ERASING_BIB = """@inproceedings{zhong2020random,
  title={Random Erasing Data Augmentation},
  author={Zhong, Zhun and Zheng, Liang and Kang, Guoliang and Li, Shaozi and Yang, Yi},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence}, volume={34},
  pages={13001--13008},
  year={2020}}"""

AUTOAUGMENT_BIB = """@inproceedings{cubuk2019autoaugment,
  title={{AutoAugment}: Learning Augmentation Strategies from Data},
  author={Cubuk, Ekin D. and Zoph, Barret and Mane, Dandelion and Vasudevan, Vijay and Le, Quoc V.},
  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)}, pages={113--123},
  year={2019}}"""

RANDAUGMENT_BIB = """@inproceedings{cubuk2020randaugment,
  title={{RandAugment}: Practical Automated Data Augmentation with a Reduced Search Space},
  author={Cubuk, Ekin D. and Zoph, Barret and Shlens, Jonathon and Le, Quoc V.},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={33}, pages={18613--18624},
  year={2020}}"""

AUGMIX_BIB = """@inproceedings{hendrycks2020augmix,
  title={{AugMix}: A Simple Data Processing Method to Improve Robustness and Uncertainty},
  author={Hendrycks, Dan and Mu, Norman and Cubuk, Ekin D. and Zoph, Barret and Gilmer, Justin and
    Lakshminarayanan, Balaji},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2020}}"""

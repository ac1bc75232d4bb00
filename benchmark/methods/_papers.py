"""BibTeX of every paper a method cites, each entry once.

Method modules import the ``*_BIB`` constants they need; a row citing several papers joins them with a
newline. A new paper goes in the section of its family.
"""

# -- Resampling: imbalanced-learn's over-, under- and combined samplers, hard-negative mining ------
IMBLEARN_BIB = """@article{lemaitre2017imbalanced,
  title={Imbalanced-learn: A Python Toolbox to Tackle the Curse of Imbalanced Datasets in Machine Learning},
  author={Lema{\\^\\i}tre, Guillaume and Nogueira, Fernando and Aridas, Christos K.},
  journal={Journal of Machine Learning Research}, volume={18}, number={17}, pages={1--5}, year={2017}}"""

SMOTE_BIB = """@article{chawla2002smote,
  title={{SMOTE}: Synthetic Minority Over-sampling Technique},
  author={Chawla, Nitesh V. and Bowyer, Kevin W. and Hall, Lawrence O. and Kegelmeyer, W. Philip},
  journal={Journal of Artificial Intelligence Research}, volume={16}, pages={321--357}, year={2002}}"""

ADASYN_BIB = """@inproceedings{he2008adasyn,
  title={{ADASYN}: Adaptive Synthetic Sampling Approach for Imbalanced Learning},
  author={He, Haibo and Bai, Yang and Garcia, Edwardo A. and Li, Shutao},
  booktitle={IEEE International Joint Conference on Neural Networks (IJCNN)}, pages={1322--1328}, year={2008}}"""

BORDERLINE_BIB = """@inproceedings{han2005borderline,
  title={Borderline-{SMOTE}: A New Over-Sampling Method in Imbalanced Data Sets Learning},
  author={Han, Hui and Wang, Wen-Yuan and Mao, Bing-Huan},
  booktitle={Advances in Intelligent Computing (ICIC)}, series={LNCS}, volume={3644}, pages={878--887}, year={2005}}"""

SVMSMOTE_BIB = """@article{nguyen2011borderline,
  title={Borderline Over-Sampling for Imbalanced Data Classification},
  author={Nguyen, Hien M. and Cooper, Eric W. and Kamei, Katsuari},
  journal={International Journal of Knowledge Engineering and Soft Data Paradigms}, volume={3}, number={1},
  pages={4--21}, year={2011}}"""

KMEANS_SMOTE_BIB = """@article{douzas2018improving,
  title={Improving Imbalanced Learning through a Heuristic Oversampling Method Based on k-means and {SMOTE}},
  author={Douzas, Georgios and Bacao, Fernando and Last, Felix},
  journal={Information Sciences}, volume={465}, pages={1--20}, year={2018}}"""

SMOTEENN_BIB = """@article{batista2004study,
  title={A Study of the Behavior of Several Methods for Balancing Machine Learning Training Data},
  author={Batista, Gustavo E. A. P. A. and Prati, Ronaldo C. and Monard, Maria Carolina},
  journal={ACM SIGKDD Explorations Newsletter}, volume={6}, number={1}, pages={20--29}, year={2004}}"""

SMOTETOMEK_BIB = """@inproceedings{batista2003balancing,
  title={Balancing Training Data for Automated Annotation of Keywords: a Case Study},
  author={Batista, Gustavo E. A. P. A. and Bazzan, Ana L. C. and Monard, Maria Carolina},
  booktitle={Proceedings of the Second Brazilian Workshop on Bioinformatics}, pages={10--18}, year={2003}}"""

NEARMISS_BIB = """@inproceedings{mani2003knn,
  title={{kNN} Approach to Unbalanced Data Distributions: A Case Study Involving Information Extraction},
  author={Mani, Inderjeet and Zhang, I.},
  booktitle={Proceedings of the ICML 2003 Workshop on Learning from Imbalanced Datasets}, year={2003}}"""

TOMEK_BIB = """@article{tomek1976two,
  title={Two Modifications of {CNN}},
  author={Tomek, Ivan},
  journal={IEEE Transactions on Systems, Man, and Cybernetics}, volume={SMC-6}, number={11}, pages={769--772},
  year={1976}}"""

ENN_BIB = """@article{wilson1972asymptotic,
  title={Asymptotic Properties of Nearest Neighbor Rules Using Edited Data},
  author={Wilson, Dennis L.},
  journal={IEEE Transactions on Systems, Man, and Cybernetics}, volume={SMC-2}, number={3}, pages={408--421},
  year={1972}}"""

RENN_BIB = """@article{tomek1976experiment,
  title={An Experiment with the Edited Nearest-Neighbor Rule},
  author={Tomek, Ivan},
  journal={IEEE Transactions on Systems, Man, and Cybernetics}, volume={SMC-6}, number={6}, pages={448--452},
  year={1976}}"""

CNN_BIB = """@article{hart1968condensed,
  title={The Condensed Nearest Neighbor Rule},
  author={Hart, Peter E.},
  journal={IEEE Transactions on Information Theory}, volume={14}, number={3}, pages={515--516}, year={1968}}"""

REDUCTION_BIB = """@article{wilson2000reduction,
  title={Reduction Techniques for Instance-Based Learning Algorithms},
  author={Wilson, D. Randall and Martinez, Tony R.},
  journal={Machine Learning}, volume={38}, number={3}, pages={257--286}, year={2000}}"""

OSS_BIB = """@inproceedings{kubat1997addressing,
  title={Addressing the Curse of Imbalanced Training Sets: One-Sided Selection},
  author={Kubat, Miroslav and Matwin, Stan},
  booktitle={Proceedings of the 14th International Conference on Machine Learning (ICML)}, pages={179--186},
  year={1997}}"""

NCL_BIB = """@inproceedings{laurikkala2001improving,
  title={Improving Identification of Difficult Small Classes by Balancing Class Distribution},
  author={Laurikkala, Jorma},
  booktitle={Artificial Intelligence in Medicine (AIME)}, series={LNCS}, volume={2101}, pages={63--66}, year={2001}}"""

IHT_BIB = """@article{smith2014instance,
  title={An Instance Level Analysis of Data Complexity},
  author={Smith, Michael R. and Martinez, Tony and Giraud-Carrier, Christophe},
  journal={Machine Learning}, volume={95}, number={2}, pages={225--256}, year={2014}}"""

CLUSTER_CENTROIDS_BIB = """@article{yen2009cluster,
  title={Cluster-Based Under-Sampling Approaches for Imbalanced Data Distributions},
  author={Yen, Show-Jane and Lee, Yue-Shi},
  journal={Expert Systems with Applications}, volume={36}, number={3}, pages={5718--5727}, year={2009}}"""

SUNG_POGGIO_BIB = """@article{sung1998example,
  title={Example-Based Learning for View-Based Human Face Detection},
  author={Sung, Kah-Kay and Poggio, Tomaso},
  journal={IEEE Transactions on Pattern Analysis and Machine Intelligence}, volume={20}, number={1}, pages={39--51},
  year={1998}}"""

# -- Batch sampling --------------------------------------------------------------------------------
RELAY_BIB = """@inproceedings{shen2016relay,
  title={Relay Backpropagation for Effective Learning of Deep Convolutional Neural Networks},
  author={Shen, Li and Lin, Zhouchen and Huang, Qingming},
  booktitle={European Conference on Computer Vision (ECCV)}, series={LNCS}, volume={9911}, pages={467--482},
  year={2016}}"""

SQRT_BIB = """@inproceedings{mahajan2018exploring,
  title={Exploring the Limits of Weakly Supervised Pretraining},
  author={Mahajan, Dhruv and Girshick, Ross and Ramanathan, Vignesh and He, Kaiming and Paluri, Manohar and Li, Yixuan
          and Bharambe, Ashwin and van der Maaten, Laurens},
  booktitle={European Conference on Computer Vision (ECCV)}, pages={181--196}, year={2018}}"""

DYNAMIC_BIB = """@inproceedings{pouyanfar2018dynamic,
  title={Dynamic Sampling in Convolutional Neural Networks for Imbalanced Data Classification},
  author={Pouyanfar, Samira and Tao, Yudong and Mohan, Anup and Tian, Haiman and Kaseb, Ahmed S. and Gauen, Kent
          and Dailey, Ryan and Aghajanzadeh, Sarah and Lu, Yung-Hsiang and Chen, Shu-Ching and Shyu, Mei-Ling},
  booktitle={IEEE Conference on Multimedia Information Processing and Retrieval (MIPR)}, pages={112--117}, year={2018}}"""

# -- Losses ----------------------------------------------------------------------------------------
CLASS_WEIGHT_BIB = """@article{king2001logistic,
  title={Logistic Regression in Rare Events Data},
  author={King, Gary and Zeng, Langche},
  journal={Political Analysis}, volume={9}, number={2}, pages={137--163}, year={2001}}"""

FOCAL_BIB = """@inproceedings{lin2017focal,
  title={Focal Loss for Dense Object Detection},
  author={Lin, Tsung-Yi and Goyal, Priya and Girshick, Ross and He, Kaiming and Doll{\\'a}r, Piotr},
  booktitle={Proceedings of the IEEE International Conference on Computer Vision (ICCV)},
  pages={2980--2988}, year={2017}}"""

CB_BIB = """@inproceedings{cui2019class,
  title={Class-Balanced Loss Based on Effective Number of Samples},
  author={Cui, Yin and Jia, Menglin and Lin, Tsung-Yi and Song, Yang and Belongie, Serge},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)},
  pages={9268--9277}, year={2019}}"""

GHM_BIB = """@inproceedings{li2019gradient,
  title={Gradient Harmonized Single-Stage Detector},
  author={Li, Buyu and Liu, Yu and Wang, Xiaogang},
  booktitle={Proceedings of the AAAI Conference on Artificial Intelligence}, volume={33}, pages={8577--8584},
  year={2019}}"""

LDAM_BIB = """@inproceedings{cao2019learning,
  title={Learning Imbalanced Datasets with Label-Distribution-Aware Margin Loss},
  author={Cao, Kaidi and Wei, Colin and Gaidon, Adrien and Arechiga, Nikos and Ma, Tengyu},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={32}, year={2019}}"""

BALANCED_SOFTMAX_BIB = """@inproceedings{ren2020balanced,
  title={Balanced Meta-Softmax for Long-Tailed Visual Recognition},
  author={Ren, Jiawei and Yu, Cunjun and Sheng, Shunan and Ma, Xiao and Zhao, Haiyu and Yi, Shuai and Li, Hongsheng},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={33}, pages={4175--4186}, year={2020}}"""

LOGIT_ADJUSTMENT_BIB = """@inproceedings{menon2021longtail,
  title={Long-Tail Learning via Logit Adjustment},
  author={Menon, Aditya Krishna and Jayasumana, Sadeep and Rawat, Ankit Singh and Jain, Himanshu and Veit, Andreas
          and Kumar, Sanjiv},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2021}}"""

# -- Image augmentation ----------------------------------------------------------------------------
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

# -- Mixing, in input and embedding space ----------------------------------------------------------
MIXUP_BIB = """@inproceedings{zhang2018mixup,
  title={mixup: Beyond Empirical Risk Minimization},
  author={Zhang, Hongyi and Cisse, Moustapha and Dauphin, Yann N. and Lopez-Paz, David},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2018}}"""

CUTMIX_BIB = """@inproceedings{yun2019cutmix,
  title={{CutMix}: Regularization Strategy to Train Strong Classifiers with Localizable Features},
  author={Yun, Sangdoo and Han, Dongyoon and Oh, Seong Joon and Chun, Sanghyuk and Choe, Junsuk and
    Yoo, Youngjoon},
  booktitle={IEEE/CVF International Conference on Computer Vision (ICCV)}, pages={6023--6032}, year={2019}}"""

FMIX_BIB = """@article{harris2020fmix,
  title={{FMix}: Enhancing Mixed Sample Data Augmentation},
  author={Harris, Ethan and Marcu, Antonia and Painter, Matthew and Niranjan, Mahesan and
    Pr{\\"u}gel-Bennett, Adam and Hare, Jonathon},
  journal={arXiv preprint arXiv:2002.12047}, year={2020}}"""

REMIX_BIB = """@inproceedings{chou2020remix,
  title={Remix: Rebalanced Mixup},
  author={Chou, Hsin-Ping and Chang, Shih-Chieh and Pan, Jia-Yu and Wei, Wei and Juan, Da-Cheng},
  booktitle={European Conference on Computer Vision Workshops (ECCV-W)}, pages={95--110}, year={2020}}"""

SENTENCE_MIXUP_BIB = """@article{guo2019augmenting,
  title={Augmenting Data with Mixup for Sentence Classification: An Empirical Study},
  author={Guo, Hongyu and Mao, Yongyi and Zhang, Richong},
  journal={arXiv preprint arXiv:1905.08941}, year={2019}}"""

BALANCED_MIXUP_BIB = """@inproceedings{galdran2021balanced,
  title={Balanced-{MixUp} for Highly Imbalanced Medical Image Classification},
  author={Galdran, Adrian and Carneiro, Gustavo and Gonz{\\'a}lez Ballester, Miguel A.},
  booktitle={Medical Image Computing and Computer Assisted Intervention (MICCAI)}, pages={323--333},
  year={2021}}"""

# -- Text augmentation -----------------------------------------------------------------------------
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

# -- Staged training: two-stage, decoupling, EOS ---------------------------------------------------
TWO_PHASE_BIB = """@article{buda2018systematic,
  title={A Systematic Study of the Class Imbalance Problem in Convolutional Neural Networks},
  author={Buda, Mateusz and Maki, Atsuto and Mazurowski, Maciej A.},
  journal={Neural Networks}, volume={106}, pages={249--259}, year={2018}}"""

DECOUPLING_BIB = """@inproceedings{kang2020decoupling,
  title={Decoupling Representation and Classifier for Long-Tailed Recognition},
  author={Kang, Bingyi and Xie, Saining and Rohrbach, Marcus and Yan, Zhicheng and Gordo, Albert and Feng, Jiashi
          and Kalantidis, Yannis},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2020}}"""

EOS_BIB = """@article{dablain2022efficient,
  title={Efficient Augmentation for Imbalanced Deep Learning},
  author={Dablain, Damien and Bellinger, Colin and Krawczyk, Bartosz and Chawla, Nitesh V.},
  journal={arXiv preprint arXiv:2207.06080}, year={2022}}"""

# -- Post-hoc adjustment ---------------------------------------------------------------------------
THRESHOLD_MOVING_BIB = """@article{zhou2006training,
  title={Training Cost-Sensitive Neural Networks with Methods Addressing the Class Imbalance Problem},
  author={Zhou, Zhi-Hua and Liu, Xu-Ying},
  journal={IEEE Transactions on Knowledge and Data Engineering}, volume={18}, number={1}, pages={63--77}, year={2006}}"""

# -- Ensembles -------------------------------------------------------------------------------------
BRF_BIB = """@techreport{chen2004using,
  title={Using Random Forest to Learn Imbalanced Data},
  author={Chen, Chao and Liaw, Andy and Breiman, Leo},
  institution={Department of Statistics, University of California, Berkeley}, number={666}, year={2004}}"""

BALANCED_BAGGING_BIB = """@inproceedings{wallace2011class,
  title={Class Imbalance, Redux},
  author={Wallace, Byron C. and Small, Kevin and Brodley, Carla E. and Trikalinos, Thomas A.},
  booktitle={IEEE 11th International Conference on Data Mining (ICDM)}, pages={754--763}, year={2011}}"""

EASY_ENSEMBLE_BIB = """@article{liu2009exploratory,
  title={Exploratory Undersampling for Class-Imbalance Learning},
  author={Liu, Xu-Ying and Wu, Jianxin and Zhou, Zhi-Hua},
  journal={IEEE Transactions on Systems, Man, and Cybernetics, Part B}, volume={39}, number={2}, pages={539--550},
  year={2009}}"""

RUSBOOST_BIB = """@article{seiffert2010rusboost,
  title={{RUSBoost}: A Hybrid Approach to Alleviating Class Imbalance},
  author={Seiffert, Chris and Khoshgoftaar, Taghi M. and Van Hulse, Jason and Napolitano, Amri},
  journal={IEEE Transactions on Systems, Man, and Cybernetics, Part A}, volume={40}, number={1}, pages={185--197},
  year={2010}}"""

# -- generative over-sampling (benchmark/methods/generative/) --
DEEPSMOTE_BIB = """@article{dablain2022deepsmote,
  title={{DeepSMOTE}: Fusing Deep Learning and {SMOTE} for Imbalanced Data},
  author={Dablain, Damien and Krawczyk, Bartosz and Chawla, Nitesh V.},
  journal={IEEE Transactions on Neural Networks and Learning Systems}, volume={34}, number={9}, pages={6390--6404},
  year={2023}, doi={10.1109/TNNLS.2021.3136503}}"""
VAE_BIB = """@inproceedings{kingma2014autoencoding,
  title={Auto-Encoding Variational {Bayes}},
  author={Kingma, Diederik P. and Welling, Max},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2014}}"""
CVAE_BIB = """@inproceedings{sohn2015learning,
  title={Learning Structured Output Representation using Deep Conditional Generative Models},
  author={Sohn, Kihyuk and Lee, Honglak and Yan, Xinchen},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={28}, year={2015}}"""
FAJARDO_BIB = """@article{fajardo2021oversampling,
  title={On oversampling imbalanced data with deep conditional generative models},
  author={Fajardo, Val Andrei and Findlay, David and Jaiswal, Charu and Yin, Xinshang and Houmanfar, Roshanak
    and Xie, Honglei and Liang, Jiaxi and She, Xichen and Emerson, D. B.},
  journal={Expert Systems with Applications}, volume={169}, pages={114463}, year={2021},
  doi={10.1016/j.eswa.2020.114463}}"""
BAGAN_BIB = """@article{mariani2018bagan,
  title={{BAGAN}: Data Augmentation with Balancing {GAN}},
  author={Mariani, Giovanni and Scheidegger, Florian and Istrate, Roxana and Bekas, Costas and Malossi, Cristiano},
  journal={arXiv preprint arXiv:1803.09655}, year={2018}}"""
BAGAN_GP_BIB = """@article{huang2021enhanced,
  title={Enhanced Balancing {GAN}: Minority-class Image Generation},
  author={Huang, Gaofeng and Jafari, Amir Hossein},
  journal={Neural Computing and Applications}, volume={35}, pages={5145--5154}, year={2023},
  doi={10.1007/s00521-021-06163-8}}"""
WGAN_GP_BIB = """@inproceedings{gulrajani2017improved,
  title={Improved Training of {Wasserstein} {GANs}},
  author={Gulrajani, Ishaan and Ahmed, Faruk and Arjovsky, Martin and Dumoulin, Vincent and Courville, Aaron C.},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={30}, year={2017}}"""

# -- diffusion and tabular generators (benchmark/methods/generative/diffusion, feature_diffusion, tabular) --
DDPM_BIB = """@inproceedings{ho2020denoising,
  title={Denoising Diffusion Probabilistic Models},
  author={Ho, Jonathan and Jain, Ajay and Abbeel, Pieter},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={33}, pages={6840--6851}, year={2020}}"""
CFG_BIB = """@inproceedings{ho2022classifier,
  title={Classifier-Free Diffusion Guidance},
  author={Ho, Jonathan and Salimans, Tim},
  booktitle={NeurIPS 2021 Workshop on Deep Generative Models and Downstream Applications}, year={2021},
  note={arXiv:2207.12598, 2022}}"""
DDIM_BIB = """@inproceedings{song2021denoising,
  title={Denoising Diffusion Implicit Models},
  author={Song, Jiaming and Meng, Chenlin and Ermon, Stefano},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2021}}"""
CBDM_BIB = """@inproceedings{qin2023class,
  title={Class-Balancing Diffusion Models},
  author={Qin, Yiming and Zheng, Huangjie and Yao, Jiangchao and Zhou, Mingyuan and Zhang, Ya},
  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition (CVPR)}, pages={18434--18443}, year={2023}}"""
LDMLR_BIB = """@inproceedings{han2024latent,
  title={Latent-based Diffusion Model for Long-tailed Recognition},
  author={Han, Pengxiao and Ye, Changkun and Zhou, Jieming and Zhang, Jing and Hong, Jie and Li, Xuesong},
  booktitle={IEEE/CVF Conference on Computer Vision and Pattern Recognition Workshops (CVPRW)}, pages={2639--2648},
  year={2024}}"""
CTGAN_BIB = """@inproceedings{xu2019modeling,
  title={Modeling Tabular Data using Conditional {GAN}},
  author={Xu, Lei and Skoularidou, Maria and Cuesta-Infante, Alfredo and Veeramachaneni, Kalyan},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={32}, year={2019}}"""
TABDDPM_BIB = """@inproceedings{kotelnikov2023tabddpm,
  title={{TabDDPM}: Modelling Tabular Data with Diffusion Models},
  author={Kotelnikov, Akim and Baranchuk, Dmitry and Rubachev, Ivan and Babenko, Artem},
  booktitle={International Conference on Machine Learning (ICML)}, series={PMLR}, volume={202}, pages={17564--17579},
  year={2023}}"""

# -- self-supervised pre-training (benchmark/methods/self_supervised/; also YANG_XU_BIB and SIMCLR_BIB) --
GIDARIS_BIB = """@inproceedings{gidaris2018unsupervised,
  title={Unsupervised Representation Learning by Predicting Image Rotations},
  author={Gidaris, Spyros and Singh, Praveer and Komodakis, Nikos},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2018}}"""
VIME_BIB = """@inproceedings{yoon2020vime,
  title={{VIME}: Extending the Success of Self- and Semi-supervised Learning to Tabular Domain},
  author={Yoon, Jinsung and Zhang, Yao and Jordon, James and van der Schaar, Mihaela},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={33}, pages={11033--11043},
  year={2020}}"""

# -- semi-supervised learning from an unlabeled pool (benchmark/methods/semi_supervised/) --
YANG_XU_BIB = """@inproceedings{yang2020rethinking,
  title={Rethinking the Value of Labels for Improving Class-Imbalanced Learning},
  author={Yang, Yuzhe and Xu, Zhi},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={33}, pages={19290--19301},
  year={2020}}"""
FIXMATCH_BIB = """@inproceedings{sohn2020fixmatch,
  title={{FixMatch}: Simplifying Semi-Supervised Learning with Consistency and Confidence},
  author={Sohn, Kihyuk and Berthelot, David and Carlini, Nicholas and Zhang, Zizhao and Zhang, Han and Raffel, Colin A.
          and Cubuk, Ekin Dogus and Kurakin, Alexey and Li, Chun-Liang},
  booktitle={Advances in Neural Information Processing Systems (NeurIPS)}, volume={33}, pages={596--608}, year={2020}}"""
REMIXMATCH_BIB = """@inproceedings{berthelot2020remixmatch,
  title={{ReMixMatch}: Semi-Supervised Learning with Distribution Matching and Augmentation Anchoring},
  author={Berthelot, David and Carlini, Nicholas and Cubuk, Ekin D. and Kurakin, Alex and Sohn, Kihyuk and Zhang, Han
          and Raffel, Colin},
  booktitle={International Conference on Learning Representations (ICLR)}, year={2020}}"""

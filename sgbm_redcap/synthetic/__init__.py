"""The synthetic SG-BM-RWS study: a seeded cohort, its patient simulator and the seeding.

This is the study's test data, kept apart from the generic REDCap API emulator in
:mod:`sgbm_redcap.sandbox` (which knows nothing of the study):

* :mod:`~sgbm_redcap.synthetic.cohort`   ``generate_cohort()``: the cohort as REDCap flat rows
  and the manifest of planted data problems;
* :mod:`~sgbm_redcap.synthetic.simulate` one patient's course (dosing, assessments, AEs);
* :mod:`~sgbm_redcap.synthetic.rano`     the simulator's own RANO-BM arithmetic;
* :mod:`~sgbm_redcap.synthetic.seed`     ``seed_study()``: the study project built in a sandbox
  and the cohort loaded into it through PyCap.

Imports run one way: ``synthetic`` may use ``sandbox``, ``dictionary`` and ``logic``; nothing in
``sandbox`` imports ``synthetic``.
"""

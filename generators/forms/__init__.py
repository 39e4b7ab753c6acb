"""Forms by construction: what each poem form and the slogan must look like, as plain data
(``spec``), as grammars (``grammar``: Lark for llguidance in-process, GBNF for llama.cpp and
vLLM), and as checks a reader would make (``checks``), with the English and Chinese sound rules
they need (``english``: syllables and rhyme from CMUdict; ``chinese``: rhyme groups from pypinyin
finals).

Plain Python: no torch here. The per-row token masks built from these live in
``generators.constrain`` (loaded lazily with the transformers back-end).
"""

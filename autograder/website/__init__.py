"""The website's build-time machinery (Sphinx extensions registered in ``_config.yml``):

- :mod:`.katex`: every formula rendered by KaTeX when the site is built;
- :mod:`.pages`: light pages (no icon font, deferred scripts, sized lazy images, a meta
  description, wide tables in their own scroll box);
- :mod:`.server`: the built site served as a static host serves it (gzip), for the browser
  tests and ``bench/lighthouse.py``.

The exercise box on each chapter page is :mod:`autograder.sphinxext`.
"""

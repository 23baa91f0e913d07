"""The ``ser`` command line: a thin dispatcher over the product's packages."""

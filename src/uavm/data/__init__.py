"""Training data: label vocabularies, reference datafiles, sampling, transforms, datasets."""

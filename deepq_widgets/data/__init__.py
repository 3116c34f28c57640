"""The dataset layer: readers, layouts, catalog, splits, preview, cache and the demo."""

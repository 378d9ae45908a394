"""Quality-control images: the overview projections, the per-landmark slices and the HTML index. No TensorFlow."""

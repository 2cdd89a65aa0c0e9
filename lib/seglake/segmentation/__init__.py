"""Behavioural segmentation: k-means on gold customer features."""

"""PointGroup instance segmentation (registry ``"PG-v1m1"``) and its extension-free clustering."""
from .clustering import ball_query, bfs_cluster, cluster_points, neighbour_pairs
from .model import PointGroup, pointgroup_losses, pointgroup_proposals

__all__ = ["PointGroup", "pointgroup_losses", "pointgroup_proposals", "ball_query", "bfs_cluster", "cluster_points", "neighbour_pairs"]

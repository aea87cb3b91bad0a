"""A lake on a NATS JetStream cluster, as the node and the CLI open it (issue 17).

``storage/jetstream/`` holds the log and the catalog's core; this package adds what a
whole node needs beside them (users, consumer positions, refusals, the console's views),
the cluster's status, and the copy of a single-node lake into a cluster.
"""

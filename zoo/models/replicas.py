"""The global batch seen from one replica, when replicas may hold unequal rows.

``tf.distribute`` splits a global batch into contiguous blocks, one per replica; a last
batch whose rows do not divide evenly gives some replicas one row more (259 rows over 2
replicas at batch 64: a last batch of 2 + 1 rows), or none. These helpers read the rows
of every replica with one small collective, so that per-row noise, the loss's average and
gathered statistics are those of one device whatever the split and however many
replicas share it. Outside a strategy, or with one replica, they cost nothing. A static
row count is no proof that every replica holds as many (a step traced on a last, uneven
batch sees 2 rows on one replica and 1 on the other, each static), so the counts always
come from the collective.
"""

import tensorflow as tf


def _context():
    context = tf.distribute.get_replica_context()
    return context if context is not None and context.num_replicas_in_sync > 1 else None


def _rows_of_every_replica(context, rows):
    """Each replica's row count, in replica order (all_gather works on floats everywhere)."""
    counts = context.all_gather(tf.cast(tf.reshape(rows, [1]), tf.float32), axis=0)
    return tf.cast(counts, tf.int32)


def row_span(rows):
    """``(first, total)``: this replica's first row in the global batch and the global
    batch's rows, for a replica holding ``rows`` rows."""
    context = _context()
    if context is None:
        return 0, rows
    counts = _rows_of_every_replica(context, rows)
    return tf.reduce_sum(counts[:context.replica_id_in_sync_group]), tf.reduce_sum(counts)


def gather_rows(tensor):
    """Every replica's rows of ``tensor`` in global-batch order (``ReplicaContext.all_gather``
    needs equal shapes: each replica pads to the largest count, the padding is dropped)."""
    context = _context()
    if context is None:
        return tensor
    rows = tf.shape(tensor)[0]
    counts = _rows_of_every_replica(context, rows)
    most = tf.reduce_max(counts)
    padding = tf.concat([[[0, most - rows]], tf.zeros([tf.rank(tensor) - 1, 2], tf.int32)], 0)
    gathered = context.all_gather(tf.pad(tensor, padding), axis=0)
    return tf.boolean_mask(gathered, tf.reshape(tf.sequence_mask(counts, most), [-1]))

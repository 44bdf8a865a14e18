-- Where each batch of a segment ends in its decompressed object: decimal
-- byte offsets, comma-separated, entry i ending batch first_seq + i. NULL
-- on rows written before. Readers use them to skip the batches they read
-- already when two nodes stored overlapping segments after a failover.
-- Additive: older nodes neither read nor write the column.
ALTER TABLE segments ADD COLUMN batch_ends TEXT;

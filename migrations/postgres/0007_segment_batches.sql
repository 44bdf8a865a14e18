-- Where each batch of a segment ends in its decompressed object: decimal
-- byte offsets, comma-separated, entry i ending batch first_seq + i. NULL
-- on rows written before. Readers use them to skip the batches they read
-- already when two nodes stored overlapping segments after a failover.
-- Additive and online: a nullable column without a default is a catalog
-- change only; older nodes neither read nor write it.
ALTER TABLE segments ADD COLUMN IF NOT EXISTS batch_ends TEXT;

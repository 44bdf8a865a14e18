-- URL search (`?url=` of the session list) is a substring match, which
-- trigram indexes serve (built by the next two migrations).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
